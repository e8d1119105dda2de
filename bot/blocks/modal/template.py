"""What the chosen category needs: free text (Serviço), or a template with a preview that fills in
as the agent types, one input per variable (labelled by its place, Meta's example as
placeholder), and the media header's link or location when the template has one."""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.modal.common import (
    CONTEXT_TEXT,
    HINT,
    INPUT_MAX,
    LABEL,
    MAX_BLOCKS,
    MAX_OPTIONS,
    OPTION_DESCRIPTION,
    OPTION_VALUE,
    PLACEHOLDER,
    PREVIEW_BODY_SECTIONS,
    SECTION_TEXT,
    ScreenBase,
    chunks,
    context,
    divider,
    media_block_id,
    option,
    section,
    select_input,
    template_block_id,
    variable_block_id,
)
from bot.blocks.state import (
    ACTION_FREE_TEXT,
    ACTION_MEDIA,
    ACTION_REFRESH_TEMPLATES,
    ACTION_TEMPLATE,
    ACTION_UPDATE_PREVIEW,
    ACTION_VARIABLE,
    BLOCK_FREE_TEXT,
)
from bot.blocks.text import cut, escape_mrkdwn, plain, single_line
from bot.rules.events import Category
from bot.rules.media_headers import MEDIA_KEY, MEDIA_KINDS, media_keys
from bot.rules.session_data import SessionData
from bot.rules.templates import Template, TemplateVariable, render_preview, template_variables

BLOCK_TEMPLATES_ACTIONS = "templates_actions"
BLOCK_PREVIEW_ACTIONS = "preview_actions"
MEDIA_HEADERS = MEDIA_KINDS
SNIPPET = 40  # characters of the template text around a variable, in its label
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def snippet(text: str, name: str) -> str | None:
    """The words around `{{name}}` in `text`: where the value will go ("seu pedido {{2}} saiu…")."""
    for match in _PLACEHOLDER.finditer(text or ""):
        if match.group(1) != name:
            continue
        start = max(0, match.start() - SNIPPET // 2)
        end = min(len(text), match.end() + SNIPPET // 2)
        piece = single_line(text[start:end])
        return ("…" if start > 0 else "") + piece + ("…" if end < len(text) else "")
    return None


class TemplateBlocks(ScreenBase):
    # -- Serviço: free text

    def free_text_input(self, hint: str | None) -> dict[str, Any]:
        tx = self.tx
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": ACTION_FREE_TEXT,
            "multiline": True,
            "max_length": INPUT_MAX,  # WhatsApp allows 4,096; Slack's input stops at 3,000
            "placeholder": plain(tx.t("screen.free_text.placeholder"), PLACEHOLDER),
        }
        if self.inputs.free_text:
            element["initial_value"] = self.inputs.free_text[:INPUT_MAX]
        block: dict[str, Any] = {
            "type": "input",
            "block_id": BLOCK_FREE_TEXT,
            "label": plain(tx.t("screen.free_text.label"), LABEL),
            "element": element,
        }
        if hint:
            block["hint"] = plain(hint, HINT)
        return block

    def service(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        if state.session_data is SessionData.NONE and self.inputs.channel_id:
            return [
                self.free_text_input(None),
                context("⚠️ " + tx.md("screen.free_text.no_session_data")),
            ]
        if state.windows is None:
            return [context(tx.md("screen.free_text.need_contact"))]
        window = state.windows.customer_care
        if window.open and window.expires_at is not None:
            # A hint is plain text (no date token): the time left only.
            hint = tx.t("screen.free_text.hint", left=self.left(window.expires_at))
            return [self.free_text_input(hint)]
        if window.expires_at is not None:
            return [context("🔒 " + tx.md("screen.free_text.closed", ago=self.closed_ago(window.expires_at)))]
        return [context("🔒 " + tx.md("screen.free_text.never"))]

    # -- the template list

    def refresh_button(self) -> dict[str, Any]:
        return {
            "type": "actions",
            "block_id": BLOCK_TEMPLATES_ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_REFRESH_TEMPLATES,
                    "text": plain(self.tx.t("screen.templates.refresh"), 75),
                    "value": "refresh",
                }
            ],
        }

    def templates(self) -> list[dict[str, Any]]:
        tx, state = self.tx, self.state
        category = self.inputs.category
        assert category is not None
        # Slack refuses option values over 150 characters or repeated; those cannot be listed.
        unique = {t.key: t for t in reversed(state.templates) if 0 < len(t.key) <= OPTION_VALUE}
        listable = [t for t in state.templates if unique.get(t.key) is t]
        chosen = self.inputs.template_key
        if chosen in unique and unique[chosen] not in listable[:MAX_OPTIONS]:
            # The selected template stays selectable even beyond Slack's 100 options.
            listable = listable[: MAX_OPTIONS - 1] + [unique[chosen]]
        if not listable:
            if state.templates_status == "loading":
                line = "⏳ " + tx.md("screen.templates.loading")
            elif state.templates_status == "error":
                line = "⚠️ " + tx.md("screen.templates.error")
            else:
                line = tx.md("screen.templates.none", category=tx.t(f"screen.category.{category.value}"))
            return [context(line), self.refresh_button()]

        options = [
            option(
                t.key, f"{t.name} · {t.language}", cut(single_line(t.body_text), OPTION_DESCRIPTION) or None
            )
            for t in listable[:MAX_OPTIONS]
        ]
        hint = None
        if len(state.templates) > len(options):
            hint = tx.t("screen.templates.more", shown=len(options), total=len(state.templates))
        blocks = [
            select_input(
                template_block_id(category),
                ACTION_TEMPLATE,
                tx.t("screen.templates.label"),
                tx.t("screen.templates.placeholder"),
                options,
                self.inputs.template_key,
                hint,
            )
        ]
        status = []
        if state.templates_status == "stale":
            status.append(tx.md("screen.templates.stale"))
        elif state.templates_status == "error":
            status.append("⚠️ " + tx.md("screen.templates.error_stale"))
        elif state.templates_status == "loading":
            status.append("⏳ " + tx.md("screen.templates.loading"))
        if status:
            blocks.append(context(*status))
        blocks.append(self.refresh_button())
        return blocks

    # -- the chosen template

    def preview(self, template: Template, body_sections: int) -> list[dict[str, Any]]:
        """The message as the customer will read it, with the values typed so far."""
        tx = self.tx
        rendered = render_preview(template, self.inputs.values)
        blocks: list[dict[str, Any]] = [
            divider(),
            section(
                tx.md(
                    "screen.template.preview_title", name=cut(template.name, 600), language=template.language
                )
            ),
        ]
        kind = (template.header_format or "").upper()
        if kind in MEDIA_HEADERS or kind == "LOCATION":
            link = self.inputs.values.get(MEDIA_KEY) if kind in MEDIA_HEADERS else None
            shown = escape_mrkdwn(cut(link, 200)) if link else tx.md("screen.template.media_missing")
            blocks.append(context(tx.md(f"screen.template.media_header.{kind.lower()}") + " · " + shown))
        if rendered.header:
            blocks.append(
                section("*" + cut(escape_mrkdwn(single_line(rendered.header)), SECTION_TEXT - 2) + "*")
            )
        body = escape_mrkdwn(rendered.body)
        blocks += [section(chunk) for chunk in chunks(body, SECTION_TEXT, body_sections)]
        extras = []
        if rendered.footer:
            extras.append("_" + cut(escape_mrkdwn(single_line(rendered.footer)), CONTEXT_TEXT - 2) + "_")
        if rendered.buttons:
            buttons = " · ".join(escape_mrkdwn(single_line(b)) for b in rendered.buttons)
            extras.append(tx.t("screen.template.buttons", buttons=buttons))
        if extras:
            blocks.append(context(*extras))
        return blocks

    def variable_label(self, template: Template, variable: TemplateVariable) -> str:
        """Where the value goes: "Corpo {{2}} · em “seu pedido {{2}} saiu…”"."""
        tx = self.tx
        name = "{{" + variable.name + "}}"
        if variable.component == "button":
            index = int(variable.name) if variable.name.isdigit() else 0
            button = template.buttons[index] if index < len(template.buttons) else None
            url = (button.url or "") if button is not None else ""
            if url and "{{" in url:
                return tx.t(
                    "screen.template.button_url_variable",
                    number=index + 1,
                    text=button.text if button else "",
                    prefix=url.split("{{", 1)[0],
                )
            return tx.t(
                "screen.template.button_variable", number=index + 1, text=button.text if button else ""
            )
        if template.category is Category.AUTHENTICATION and variable.key == "body.1":
            return tx.t("screen.template.code_label")
        source = template.header_text if variable.component == "header" else template.body_text
        around = snippet(source or "", variable.name)
        part = tx.t(f"screen.template.part.{variable.component}")
        if around:
            return tx.t("screen.template.variable_label_in", part=part, name=name, around=around)
        return tx.t("screen.template.variable_label", part=part, name=name)

    def text_input(
        self, block_id: str, action_id: str, label: str, placeholder: str, key: str
    ) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": action_id,
            "placeholder": plain(placeholder, PLACEHOLDER),
            # Enter redraws the preview with what was typed (views.update).
            "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]},
        }
        value = self.inputs.values.get(key)
        if value:
            element["initial_value"] = value[:INPUT_MAX]
        return {
            "type": "input",
            "block_id": cut(block_id, 255),
            "dispatch_action": True,
            "label": plain(label, LABEL),
            "element": element,
        }

    def variable_input(self, template: Template, variable: TemplateVariable) -> dict[str, Any]:
        placeholder = variable.example or self.tx.t("screen.template.variable_placeholder")
        return self.text_input(
            variable_block_id(variable.key),
            ACTION_VARIABLE,
            self.variable_label(template, variable),
            placeholder,
            variable.key,
        )

    def media_inputs(self, template: Template) -> list[dict[str, Any]]:
        tx = self.tx
        kind = (template.header_format or "").lower()
        blocks = []
        for key in media_keys(template):
            if key == MEDIA_KEY:
                label = tx.t(f"screen.template.media_label.{kind}")
                placeholder = tx.t(f"screen.template.media_placeholder.{kind}")
            else:
                field = key.rsplit(".", 1)[-1]
                label = tx.t(f"screen.template.location.{field}")
                placeholder = tx.t(f"screen.template.location_placeholder.{field}")
            blocks.append(self.text_input(media_block_id(key), ACTION_MEDIA, label, placeholder, key))
        return blocks

    def preview_button(self) -> dict[str, Any]:
        return {
            "type": "actions",
            "block_id": BLOCK_PREVIEW_ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_UPDATE_PREVIEW,
                    "text": plain(self.tx.t("screen.template.update_preview"), 75),
                    "value": "preview",
                }
            ],
        }

    def chosen_template(self, used: int) -> tuple[list[dict[str, Any]], bool]:
        """Preview and inputs of the selected template within the blocks left; and whether it fits."""
        template = self.state.template
        if template is None:
            return [], False
        variables = [v for v in template_variables(template) if len(variable_block_id(v.key)) <= 255]
        media = self.media_inputs(template)
        fields = len(variables) + len(media)
        room = MAX_BLOCKS - used
        for sections in range(PREVIEW_BODY_SECTIONS, 0, -1):
            preview = self.preview(template, sections)
            if len(preview) + max(fields, 1) + 1 <= room:
                break
        if not fields:
            return preview + [context(self.tx.md("screen.template.no_variables"))], True
        if len(preview) + fields + 1 > room:
            # Slack caps a modal at 100 blocks; such a template cannot be filled here.
            note = context("⚠️ " + self.tx.md("screen.template.too_many_variables", count=len(variables)))
            return preview[: max(room - 1, 0)] + [note], False
        inputs = media + [self.variable_input(template, v) for v in variables]
        return preview + inputs + [self.preview_button()], True
