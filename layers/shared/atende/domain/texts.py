"""User-facing bot texts. Brazilian Portuguese by default; tenants override per key."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_LANGUAGE = "pt-BR"

_TEXTS: dict[str, dict[str, str]] = {
    "pt-BR": {
        "apology": (
            "Desculpe, tive um problema para responder agora. 🙏 Já registramos o ocorrido; por favor, tente de novo em alguns minutos."
        ),
        "unsupported_type": (
            "Recebi sua mensagem, mas ainda não consigo entender esse tipo de conteúdo. Pode me escrever em texto, por favor?"
        ),
    },
    "en": {
        "apology": "Sorry, I had a problem answering just now. 🙏 Please try again in a few minutes.",
        "unsupported_type": "I got your message, but I can't understand this kind of content yet. Could you write it as text?",
    },
}


def bot_text(key: str, language: str = DEFAULT_LANGUAGE, overrides: Mapping[str, str] | None = None) -> str:
    """The text for ``key``: the tenant's override, else the language's default, else pt-BR."""
    if overrides and key in overrides:
        return overrides[key]
    table = _TEXTS.get(language) or _TEXTS[DEFAULT_LANGUAGE]
    return table.get(key) or _TEXTS[DEFAULT_LANGUAGE][key]
