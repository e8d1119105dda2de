"""The sandbox's data: its sample templates, and the Meta envelope a customer's message comes in
(`contato-bot sandbox inbound` makes one and feeds it through the webhook path)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from bot.rules.events import Category
from bot.rules.templates import Template, TemplateButton

LANGUAGE = "pt_BR"

# Meta's fixed authentication body in Portuguese (with the security recommendation).
AUTH_BODY_PT = "*{{1}}* é seu código de verificação. Para sua segurança, não o compartilhe."


def sample_templates() -> list[Template]:
    """The sandbox's templates: every category, positional and named variables, every button
    kind the screen handles, and one PAUSED template the screen must not offer."""
    return [
        Template(
            name="pedido_enviado",
            language=LANGUAGE,
            category=Category.UTILITY,
            status="APPROVED",
            raw_category="UTILITY",
            header_format="TEXT",
            header_text="Pedido {{1}}",
            body_text="Olá {{1}}, seu pedido {{2}} foi enviado e chega em até 3 dias úteis.",
            footer_text="Loja Exemplo",
            buttons=(
                TemplateButton(type="QUICK_REPLY", text="Recebi, obrigado"),
                TemplateButton(type="QUICK_REPLY", text="Falar com atendente"),
            ),
            provider_ref="sandbox-1",
            # Meta's example values, as a real listing carries them (the inputs' placeholders).
            examples=(("header.1", "#4821"), ("body.1", "Maria"), ("body.2", "#4821")),
        ),
        Template(
            name="entrega_hoje",
            language=LANGUAGE,
            category=Category.UTILITY,
            status="APPROVED",
            raw_category="UTILITY",
            parameter_format="NAMED",
            body_text="Oi {{nome}}, o pedido {{pedido}} sai para entrega hoje.",
            buttons=(
                TemplateButton(
                    type="URL", text="Acompanhar entrega", url="https://exemplo.com.br/rastreio/{{1}}"
                ),
            ),
            provider_ref="sandbox-2",
            examples=(("body.nome", "João"), ("body.pedido", "#4821"), ("button.0", "4821")),
        ),
        Template(
            name="boleto_disponivel",
            language=LANGUAGE,
            category=Category.UTILITY,
            status="APPROVED",
            raw_category="UTILITY",
            header_format="DOCUMENT",  # the send must carry the document (a link or media id)
            body_text="Olá {{1}}, o boleto do seu pedido está no anexo.",
            provider_ref="sandbox-7",
            examples=(("body.1", "Maria"),),
        ),
        Template(
            name="promocao_semana",
            language=LANGUAGE,
            category=Category.MARKETING,
            status="APPROVED",
            raw_category="MARKETING",
            body_text="{{1}}, esta semana você tem {{2}} de desconto em toda a loja!",
            footer_text="Responda SAIR para não receber promoções",
            buttons=(
                TemplateButton(type="QUICK_REPLY", text="Quero aproveitar"),
                TemplateButton(type="URL", text="Ver ofertas", url="https://exemplo.com.br/ofertas"),
            ),
            provider_ref="sandbox-3",
        ),
        Template(
            name="black_friday",
            language=LANGUAGE,
            category=Category.MARKETING,
            status="PAUSED",
            raw_category="MARKETING",
            body_text="{{1}}, a Black Friday começou: até 70% de desconto!",
            provider_ref="sandbox-4",
        ),
        Template(
            name="codigo_verificacao",
            language=LANGUAGE,
            category=Category.AUTHENTICATION,
            status="APPROVED",
            raw_category="AUTHENTICATION",
            body_text=AUTH_BODY_PT,
            footer_text="Este código expira em 10 minutos.",
            buttons=(TemplateButton(type="OTP", text="Copiar código", otp_type="COPY_CODE"),),
            provider_ref="sandbox-5",
        ),
        Template(
            name="retomar_atendimento",
            language=LANGUAGE,
            category=Category.SERVICE,
            status="APPROVED",
            raw_category="SERVICE",
            body_text="Olá {{1}}, aqui é da Loja Exemplo retomando o seu atendimento. Podemos continuar?",
            provider_ref="sandbox-6",
        ),
    ]


def inbound_payload(
    channel_number: str, wa_id: str, text: str, at: datetime, *, ctwa: bool, name: str | None = None
) -> dict[str, Any]:
    """A Meta webhook envelope carrying one customer text message (with an ad referral for CTWA)."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": "wamid.SANDBOX.IN." + uuid.uuid4().hex,
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": text},
    }
    if ctwa:
        message["referral"] = {
            "source_url": "https://fb.me/sandbox-ad",
            "source_id": "120200000000000001",
            "source_type": "ad",
            "headline": "Anúncio de teste (sandbox)",
            "body": "Fale com a gente pelo WhatsApp",
            "media_type": "image",
            "ctwa_clid": "sandbox-" + uuid.uuid4().hex[:16],
        }
    display = "".join(ch for ch in channel_number if ch.isdigit())
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "SANDBOX",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": display, "phone_number_id": "SANDBOX"},
                            "contacts": [{"profile": {"name": name or "Cliente Sandbox"}, "wa_id": wa_id}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
