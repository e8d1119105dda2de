"""bot.config: the models, every kind of problem with its line, the example file, the helpers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.config import (
    AppConfig,
    ChannelConfig,
    ConfigError,
    Settings,
    default_database_url,
    env_problems,
    load_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "contato.example.yml"
EXAMPLES_MARKER = "# Examples for the real BSPs"

GOOD = """\
language: en
teams:
  - id: vendas
    name: Vendas
    members: [U012ABCDEF]
    alert_channel: C0SUPERVIS
    channels: [vendas]
channels:
  - id: vendas
    name: Vendas
    number: "(11) 4000-0000"
    bsp: 360dialog
    api_key_env: D360_API_KEY_VENDAS
    webhook_secret_env: WEBHOOK_SECRET_VENDAS
"""


def write(tmp_path: Path, text: str, name: str = "contato.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def uncommented_example() -> str:
    """The example with every commented-out provider channel turned on, as an admin would."""
    head, marker, tail = EXAMPLE.read_text().partition(EXAMPLES_MARKER)
    assert marker, "the example lost its provider examples"
    lines = [line[:2] + line[4:] if line.startswith("  # ") else line for line in tail.splitlines()]
    return head + marker + "\n".join(lines) + "\n"


# ---- a good file -------------------------------------------------------------------------------


def test_a_good_file_loads_with_defaults_and_normalised_number(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))

    assert config.language == "en"
    assert config.alerts.scan_seconds == 30
    assert config.templates.ttl_seconds == 300
    assert config.pricing.rules_file is None
    team = config.team("vendas")
    assert team is not None and team.alert_lead_minutes == 60 and team.usergroup is None
    channel = config.channel("vendas")
    assert channel is not None
    assert channel.number == "+551140000000"
    # Only a Cloud API channel has a Graph version (see the CloudApi test below for its default).
    assert channel.bsp == "360dialog" and not hasattr(channel, "graph_version")
    assert config.team("nope") is None and config.channel("nope") is None


def test_numbers_where_text_is_expected_are_kept_as_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        teams: [{id: t, name: T, members: U1, channels: meta}]
        channels:
          - id: meta
            name: Meta
            number: 551140000000
            bsp: CloudAPI
            access_token_env: T
            app_secret_env: S
            verify_token_env: V
            waba_id: 102290129340398
            phone_number_id: 106540352242922
        """,
    )
    config = load_config(path)

    channel = config.channels[0]
    assert (channel.waba_id, channel.phone_number_id) == ("102290129340398", "106540352242922")
    assert channel.bsp == "cloudapi"
    assert channel.graph_version == "v26.0"  # one default, the channel model's: the newest Meta documents
    assert channel.number == "+551140000000"
    assert config.teams[0].members == ["U1"] and config.teams[0].channels == ["meta"]


# ---- every kind of problem, located ------------------------------------------------------------


def test_unknown_channel_reference_names_the_line_and_the_defined_ids(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("channels: [vendas]", "channels: [vendas, vendass]"))

    assert problems_of(path) == [
        f'{path}:7: teams[0].channels[1]: no channel with id "vendass" (did you mean "vendas"?) '
        "(channels defined: vendas)"
    ]


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    alert_channel:", "    chanels: []\n    alert_channel:"))

    assert problems_of(path) == [f'{path}:6: teams[0].chanels: unknown key (did you mean "channels"?)']


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "colour: blue\n" + GOOD)

    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:1: colour: unknown key (known keys: language, alerts, templates, ")


def test_duplicate_team_and_channel_ids_cite_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        teams:
          - {id: a, name: A, members: [U1], channels: [x]}
          - {id: a, name: A2, members: [U2], channels: [x]}
        channels:
          - {id: x, name: X, number: "+55 11 4000-0000", bsp: sandbox}
          - {id: x, name: X2, number: "+55 11 4000-0001", bsp: sandbox}
        """,
    )

    assert problems_of(path) == [
        f'{path}:2: teams[0].id: team id "a" is used twice (also on line 3); ids must be unique',
        f'{path}:3: teams[1].id: team id "a" is used twice (also on line 2); ids must be unique',
        f'{path}:5: channels[0].id: channel id "x" is used twice (also on line 6); ids must be unique',
        f'{path}:6: channels[1].id: channel id "x" is used twice (also on line 5); ids must be unique',
    ]


def test_bad_phone_number_is_located_and_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"(11) 4000-0000"', '"+55 11 4000"'))

    assert problems_of(path) == [
        f"{path}:11: channels[0].number: is not a valid phone number; write it with the country code, "
        'like "+55 11 4000-0000"'
    ]


def test_unknown_bsp_lists_the_supported_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("bsp: 360dialog", "bsp: 360dialg"))

    assert problems_of(path) == [
        f"{path}:12: channels[0].bsp: unknown BSP '360dialg' (did you mean \"360dialog\"?); use one of: "
        "360dialog, fortics, cloudapi, gupshup, twilio, sandbox"
    ]


def test_missing_provider_key_says_what_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    api_key_env: D360_API_KEY_VENDAS\n", ""))

    assert problems_of(path) == [
        f"{path}:9: channels[0].api_key_env: is missing; bsp 360dialog needs it: the name of the "
        "environment variable holding the API key"
    ]


def test_one_of_two_alternatives_is_enough_and_both_missing_is_one_problem(tmp_path: Path) -> None:
    twilio = """\
    teams: [{id: t, name: T, members: ["*"], channels: [tw]}]
    channels:
      - id: tw
        name: Twilio
        number: "+1 415 555 0100"
        bsp: twilio
        account_sid: AC123
        auth_token_env: TWILIO_AUTH_TOKEN
    """
    path = write(tmp_path, twilio)
    assert problems_of(path) == [
        f"{path}:3: channels[0].messaging_service_sid: is missing; bsp twilio needs messaging_service_sid "
        "or from_number"
    ]

    config = load_config(write(tmp_path, twilio + '    from_number: "+1 (415) 555-0100"\n'))
    assert config.channels[0].from_number == "+14155550100"


def test_a_key_of_another_bsp_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    tenant: minhaempresa\n")

    assert problems_of(path) == [
        f"{path}:15: channels[0].tenant: is not used by bsp 360dialog (it is a fortics key); remove it"
    ]


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "teams:\n  - id: a\n   name: broken\n")

    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: not valid YAML: ")


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "contato.yml"
    path.write_text("teams:\n\t- id: a\n")

    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: not valid YAML: ") and "spaces, never tabs" in problem


def test_missing_file_points_to_the_example(tmp_path: Path) -> None:
    path = tmp_path / "contato.yml"

    assert problems_of(path) == [
        f"{path}: the config file does not exist; copy contato.example.yml to {path} and edit it "
        "(or point --config / CONTATO_CONFIG at your file)"
    ]


@pytest.mark.parametrize("text", ["", "# only comments\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    assert problems_of(path) == [
        f"{path}: the config file is empty; start from contato.example.yml (it documents every key)"
    ]


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")

    assert problems_of(path) == [
        f"{path}:1: the file must be a mapping of keys (language, teams, channels, ...)"
    ]


def test_a_key_written_twice_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "    name: Outro nome\n")

    assert problems_of(path) == [
        f"{path}:15: channels[0].name: the key appears twice (first on line 10); only the last one would "
        "count, so keep one"
    ]


def test_team_without_people(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    members: [U012ABCDEF]\n", ""))

    assert problems_of(path) == [
        f"{path}:3: teams[0]: has neither members nor a usergroup, so nobody can use it; add members: "
        '[U012ABCDEF] (Slack user ids, or ["*"] for everyone) or usergroup: S0123ABCD'
    ]


def test_a_secret_pasted_instead_of_a_name_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("api_key_env: D360_API_KEY_VENDAS", 'api_key_env: "sk live 123!"'))

    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:13: channels[0].api_key_env: must be the NAME of an environment")
    assert "sk live" not in problem


def test_every_problem_is_collected_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        language: es
        alerts:
          scan_seconds: 0
        teams:
          - id: t
            name: T
            members: [joao]
            alert_lead_minutes: 2000
            channels: [nenhum]
        channels:
          - id: Loja Centro
            name: Loja
            number: "+55 11 4000-0000"
            bsp: sandbox
          - id: meta
            number: "+55 11 4000-0001"
            bsp: cloudapi
            access_token_env: META_TOKEN
        """,
    )

    problems = problems_of(path)

    assert problems == [
        f"{path}:1: language: unknown language 'es'; use one of: pt-BR, en",
        f"{path}:3: alerts.scan_seconds: must be between 1 and 3600",
        f"{path}:7: teams[0].members[0]: 'joao' is not a Slack user id; use ids like U012ABCDEF (Slack: "
        "profile, '...', Copy member ID), or \"*\" for every member of the workspace",
        f"{path}:8: teams[0].alert_lead_minutes: must be between 1 and 1440",
        f'{path}:9: teams[0].channels[0]: no channel with id "nenhum" (channels defined: Loja Centro, meta)',
        f"{path}:11: channels[0].id: 'Loja Centro' is not a valid channel id: use only lowercase letters, "
        "digits, '-' and '_' (it is part of the webhook URL)",
        f"{path}:15: channels[1].name: is required but missing",
        f"{path}:15: channels[1].app_secret_env: is missing; bsp cloudapi needs it: the name of the "
        "environment variable holding the Meta app secret (webhook signatures)",
        f"{path}:15: channels[1].verify_token_env: is missing; bsp cloudapi needs it: the name of the "
        "environment variable holding the webhook verify token",
        f"{path}:15: channels[1].waba_id: is missing; bsp cloudapi needs it: the WhatsApp Business "
        "Account id",
        f"{path}:15: channels[1].phone_number_id: is missing; bsp cloudapi needs it: the Cloud API phone "
        "number id",
    ]


def test_missing_sections_and_empty_lists(tmp_path: Path) -> None:
    path = write(tmp_path, "language: pt-BR\nteams: []\n")

    assert problems_of(path) == [
        f"{path}:1: channels: is required but missing",
        f"{path}:2: teams: no teams are defined; the example file contato.example.yml shows how",
    ]


def test_building_the_models_directly_validates_too() -> None:
    with pytest.raises(ValidationError, match="api_key_env: is missing; bsp 360dialog needs it"):
        ChannelConfig.model_validate(
            {
                "id": "v",
                "name": "V",
                "number": "+55 11 4000-0000",
                "bsp": "360dialog",
                "webhook_secret_env": "S",
            },
        )
    with pytest.raises(ValidationError, match='no channel with id "x"'):
        AppConfig.model_validate(
            {"teams": [{"id": "t", "name": "T", "members": ["U1"], "channels": ["x"]}], "channels": []}
        )


# ---- the example file --------------------------------------------------------------------------


def test_the_example_loads_with_no_environment_at_all() -> None:
    config = load_config(EXAMPLE)

    assert config.language == "pt-BR"
    assert [t.id for t in config.teams] == ["suporte"]
    assert config.teams[0].members == ["*"] and config.teams[0].channels == ["sandbox"]
    assert [(c.id, c.bsp, c.number) for c in config.channels] == [("sandbox", "sandbox", "+551140000000")]
    assert env_problems(config, environ={}) == []


def test_the_example_provider_blocks_uncommented_are_a_valid_config(tmp_path: Path) -> None:
    path = write(tmp_path, uncommented_example())

    config = load_config(path)

    assert {c.bsp for c in config.channels} == {
        "sandbox",
        "360dialog",
        "cloudapi",
        "fortics",
        "gupshup",
        "twilio",
    }
    env_names = {getattr(c, f) for c in config.channels for f in c.env_fields()}
    missing = env_problems(config, environ={})
    assert len(missing) == len(env_names) > 0
    assert env_problems(config, environ={name: "value" for name in env_names}) == []


def test_the_example_documents_every_channel_key() -> None:
    text = uncommented_example()
    for key in ChannelConfig.model_fields:
        assert f"{key}:" in text, key


# ---- environment -------------------------------------------------------------------------------


def test_env_problems_are_located_and_never_raised_by_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_config(path)

    assert env_problems(config, environ={"WEBHOOK_SECRET_VENDAS": "  "}) == [
        f"{path}:13: channels[0].api_key_env: environment variable D360_API_KEY_VENDAS is not set",
        f"{path}:14: channels[0].webhook_secret_env: environment variable WEBHOOK_SECRET_VENDAS is empty",
    ]


def test_secret_reads_the_named_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = load_config(write(tmp_path, GOOD)).channels[0]

    assert channel.secret("api_key_env", {"D360_API_KEY_VENDAS": "k1"}) == "k1"
    assert channel.secret("api_key_env", {"D360_API_KEY_VENDAS": ""}) is None
    assert channel.secret("access_token_env", {"D360_API_KEY_VENDAS": "k1"}) is None  # field unset
    monkeypatch.setenv("D360_API_KEY_VENDAS", "from-env")
    assert channel.secret("api_key_env") == "from-env"
    with pytest.raises(AttributeError):
        channel.secret("number")


def test_settings_from_the_environment_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_APP_TOKEN", "DATABASE_URL", "SLACK_API_URL", "CONTATO_CONFIG", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("slack_signing_secret", "sign-secret")

    settings = Settings()

    assert settings.slack_bot_token == SecretStr("xoxb-secret")
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == "sign-secret"
    assert settings.slack_app_token is None and settings.database_url is None
    assert settings.contato_config == "contato.yml" and settings.log_level == "INFO"
    assert "xoxb-secret" not in repr(settings) and "sign-secret" not in str(settings)


def test_default_database_url_is_beside_the_config(tmp_path: Path) -> None:
    assert default_database_url(tmp_path / "contato.yml") == f"sqlite:///{tmp_path.resolve()}/contato.db"


# ---- who is in which team ----------------------------------------------------------------------

TEAMS = """\
teams:
  - {id: vendas, name: Vendas, members: [UANA], channels: [loja]}
  - {id: suporte, name: Suporte, usergroup: SSUPORTE, channels: [sac, loja]}
  - {id: todos, name: Todos, members: ["*"], channels: [sac]}
  - {id: plantao, name: Plantao, members: [UBIA], usergroup: SSUPORTE, channels: [sac]}
channels:
  - {id: loja, name: Loja, number: "+55 11 4000-0001", bsp: sandbox}
  - {id: sac, name: SAC, number: "+55 11 4000-0002", bsp: sandbox}
"""


def test_teams_of_user_by_member_everyone_and_usergroup(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEAMS))
    groups = {"SSUPORTE": {"UCAIO"}}

    def ids(user: str) -> list[str]:
        return [t.id for t in config.teams_of_user(user, groups)]

    assert ids("UANA") == ["vendas", "todos"]
    assert ids("UCAIO") == ["suporte", "todos", "plantao"]
    assert ids("UBIA") == ["todos", "plantao"]
    assert ids("UZED") == ["todos"]
    assert [t.id for t in config.teams_of_user("UCAIO", {})] == ["todos"]  # groups not loaded yet


def test_usergroups_and_teams_for_channel(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEAMS))

    assert config.usergroups() == ["SSUPORTE"]
    assert [t.id for t in config.teams_for_channel("loja")] == ["vendas", "suporte"]
    assert [t.id for t in config.teams_for_channel("nenhum")] == []
