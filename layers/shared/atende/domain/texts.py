"""User-facing bot texts. Brazilian Portuguese by default; tenants override per key.

A text may name parameters in braces (``{limit}``); ``bot_text`` fills the ones it is given and
leaves any other brace alone, so a tenant's override can drop or reorder them safely.
"""

from __future__ import annotations

import re
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
        "transcript_echo": "🔊 Entendi: “{transcript}”",
        "media_expired": "Não consegui abrir o arquivo que você enviou: ele pode ter expirado. Pode enviar de novo, por favor? 🙏",
        "media_too_large": (
            "Esse arquivo é grande demais para eu abrir por aqui (o limite é {limit}). "
            "Pode enviar uma versão menor ou me contar em texto do que se trata?"
        ),
        "media_unsupported": (
            "Ainda não consigo abrir arquivos nesse formato. Se puder, envie em PDF ou como foto, ou escreva sua mensagem em texto. 🙏"
        ),
        "media_not_downloadable": (
            "Recebi seu arquivo, mas por este canal ainda não consigo abri-lo. Pode me contar em texto do que se trata?"
        ),
        "audio_too_long": (
            "Seu áudio tem mais de {minutes} minutos e não consigo ouvi-lo por inteiro. "
            "Pode mandar um áudio mais curto ou escrever sua dúvida?"
        ),
        "audio_inaudible": "Não consegui entender o áudio. 🙏 Pode gravar de novo ou escrever sua mensagem?",
        "document_without_text": (
            "Não encontrei texto nesse documento (parece ser uma imagem digitalizada). "
            "Pode enviar fotos das páginas ou escrever sua dúvida?"
        ),
        "out_of_hours": (
            "Olá! 👋 Nosso atendimento está fechado agora. Voltamos {opening}. "
            "Sua mensagem ficou registrada e vamos responder assim que a equipe estiver de volta."
        ),
        # Appended to the system prompt out of hours when the assistant keeps answering.
        "out_of_hours_hint": (
            "Agora a equipe humana está fora do horário de atendimento e volta {opening}. "
            "Se o cliente pedir uma pessoa ou algo que só a equipe resolve, diga isso com gentileza."
        ),
        "flood_notice": (
            "Recebi muitas mensagens em pouco tempo. 🙏 Vou ler tudo com calma: aguarde um minutinho antes de enviar mais, por favor."
        ),
        # Write tools: what code (never the model) says before and after the customer's yes.
        "confirm_order": "Confirma o pedido?\n{summary}\n\nResponda *sim* para confirmar ou *não* para cancelar.",
        "confirm_ticket": "Posso abrir este chamado?\n{summary}\n\nResponda *sim* para confirmar ou *não* para cancelar.",
        "confirm_action": "Posso seguir com isto?\n{summary}\n\nResponda *sim* para confirmar ou *não* para cancelar.",
        "confirm_yes_button": "Sim, confirmar",
        "confirm_no_button": "Não",
        "choices_button": "Ver opções",
        "action_done": "Pronto! ✅ {summary}",
        "action_cancelled": "Tudo bem, não fiz nada. Se precisar de outra coisa, é só falar. 🙂",
        "action_failed": "Não consegui concluir: {reason} Posso ajudar de outro jeito?",
        "action_unavailable": "Essa ação não está mais disponível por aqui. Um atendente pode ajudar você.",
        "handoff_requested": (
            "Certo! Já pedi para um atendente da equipe continuar esta conversa com você. 🙋 "
            "Assim que alguém estiver disponível, responde por aqui."
        ),
        "reply_withheld": "Desculpe, não posso compartilhar essa informação por aqui. Posso ajudar com outra coisa?",
    },
    "en": {
        "apology": "Sorry, I had a problem answering just now. 🙏 Please try again in a few minutes.",
        "unsupported_type": "I got your message, but I can't understand this kind of content yet. Could you write it as text?",
        "transcript_echo": "🔊 I heard: “{transcript}”",
        "media_expired": "I couldn't open the file you sent: it may have expired. Could you send it again, please? 🙏",
        "media_too_large": (
            "That file is too large for me to open here (the limit is {limit}). Could you send a smaller one or tell me about it?"
        ),
        "media_unsupported": "I can't open files in that format yet. Please send a PDF or a photo, or write your message as text. 🙏",
        "media_not_downloadable": "I got your file, but I can't open files on this channel yet. Could you tell me about it in text?",
        "audio_too_long": (
            "Your audio is longer than {minutes} minutes, so I can't listen to all of it. Could you send a shorter one or write?"
        ),
        "audio_inaudible": "I couldn't make out the audio. 🙏 Could you record it again or write your message?",
        "document_without_text": "I found no text in that document (it looks like a scan). Could you send photos of the pages or write?",
        "out_of_hours": "Hi! 👋 We're closed right now and back {opening}. Your message is saved and the team will answer then.",
        "out_of_hours_hint": "The human team is out of office now and back {opening}. If the customer asks for a person, say so kindly.",
        "flood_notice": "I got many messages in a short time. 🙏 I'll read them all: please wait a minute before sending more.",
        "confirm_order": "Shall I place this order?\n{summary}\n\nReply *yes* to confirm or *no* to cancel.",
        "confirm_ticket": "Shall I open this ticket?\n{summary}\n\nReply *yes* to confirm or *no* to cancel.",
        "confirm_action": "Shall I go ahead with this?\n{summary}\n\nReply *yes* to confirm or *no* to cancel.",
        "confirm_yes_button": "Yes, confirm",
        "confirm_no_button": "No",
        "choices_button": "See options",
        "action_done": "Done! ✅ {summary}",
        "action_cancelled": "All right, I did nothing. Let me know if you need anything else. 🙂",
        "action_failed": "I couldn't finish it: {reason} Can I help another way?",
        "action_unavailable": "That action is no longer available here. An attendant can help you.",
        "handoff_requested": "Sure! I've asked someone from the team to take over this conversation. 🙋 They'll answer here soon.",
        "reply_withheld": "Sorry, I can't share that information here. Can I help with something else?",
    },
}

_PARAMETER = re.compile(r"\{([a-z_]+)\}")


def bot_text(key: str, language: str = DEFAULT_LANGUAGE, overrides: Mapping[str, str] | None = None, **params: str) -> str:
    """The text for ``key``: the tenant's override, else the language's default, else pt-BR."""
    if overrides and key in overrides:
        text = overrides[key]
    else:
        table = _TEXTS.get(language) or _TEXTS[DEFAULT_LANGUAGE]
        text = table.get(key) or _TEXTS[DEFAULT_LANGUAGE][key]
    if not params:
        return text
    return _PARAMETER.sub(lambda m: params.get(m.group(1), m.group(0)), text)
