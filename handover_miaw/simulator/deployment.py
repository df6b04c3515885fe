"""Static deployment data: the embedded-service configuration, business hours and a transcript PDF."""

from __future__ import annotations

from typing import Any

from .config import SimulatorConfig

__all__ = ["business_hours", "embedded_service_config", "transcript_pdf"]


def embedded_service_config(config: SimulatorConfig) -> dict[str, Any]:
    """The ``embeddedServiceConfig`` object (token response ``context.configuration`` and §5.1).

    Pre-chat fields follow the sample app: one ``formFields`` list with ``isHidden`` per field (a newer web
    bootstrap reads hidden ones from ``forms[0].hiddenFormFields`` instead; the client accepts both).
    ``deploymentType`` sits in this object as that bootstrap reads it (``api`` for a Custom Client).
    No public source shows where a deployment's languages appear: ``languages`` (each with ``isDefault``)
    is this simulator's guess, and the doctor checks languages only where the answer has them.
    """
    return {
        "name": config.es_developer_name,
        "deploymentType": config.deployment_type,
        "embeddedServiceMessagingChannel": {
            "authMode": "Unauth",
            "channelAddressIdentifier": config.channel_address_identifier,
            "isAttachmentUploadEnabled": True,
            "isEstimatedWaitTimeEnabled": True,
        },
        "forms": [
            {
                "displayContext": "Conversation",
                "formType": "PreChat",
                "formFields": [
                    {
                        "name": field.name,
                        "order": order,
                        "required": field.required,
                        "isHidden": field.hidden,
                        "type": field.type,
                    }
                    for order, field in enumerate(config.pre_chat_fields, start=1)
                ],
            }
        ],
        "languages": [
            {"language": language, "isDefault": index == 0} for index, language in enumerate(config.languages)
        ],
        "choiceListConfig": {"choiceList": []},
        "customLabels": [],
        "standardLabels": [],
        "branding": [],
    }


def business_hours(now_ms: int) -> dict[str, Any]:
    """Always open: one window from an hour ago to eight hours ahead."""
    hour = 3_600_000
    return {
        "businessHoursInfo": {
            "isActive": True,
            "businessHours": [{"startTime": now_ms - hour, "endTime": now_ms + 8 * hour}],
        }
    }


def transcript_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF listing ``lines`` (enough for a client to store or forward)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    body = (
        "BT /F1 10 Tf 40 800 Td 12 TL "
        + " ".join(f"({escape(line.encode('latin-1', 'replace').decode('latin-1'))}) '" for line in lines)
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body.encode('latin-1'))} >>\nstream\n{body}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{content}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
