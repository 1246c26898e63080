"""Offline, deterministic assistant: the default when no LLM key is configured.

Clearly labelled as offline in every answer. It is no language model: a few pt-BR intents
plus an echo, enough to demo and test the whole pipeline (memory included) without keys.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from atende.domain.conversation import Turn
from atende.llm import ChatCompletion

OFFLINE_LABEL = "🤖 [modo offline]"

# Checked in order against the accent-folded, lower-cased last user message.
_INTENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(horario|abre|fecha|funciona)"),
        "Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe.",
    ),
    (
        re.compile(r"\b(preco|valor|quanto custa|orcamento)"),
        "Para preços e orçamentos, um atendente confirma os valores atualizados com você.",
    ),
    (re.compile(r"\b(pedido|entrega|rastre)"), "Posso ajudar com seu pedido! Me diga o número dele, por favor."),
    (re.compile(r"\b(obrigad|valeu)"), "Eu que agradeço! Se precisar de mais alguma coisa, é só chamar."),
    (re.compile(r"\b(oi|ola|bom dia|boa tarde|boa noite)\b"), "Olá! 👋 Como posso ajudar?"),
)


_BILL_LINE = re.compile(r"^\[conta de luz lida automaticamente[^\]]*\] ([^\n]+)", re.MULTILINE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class LocalChatModel:
    provider = "local"
    model = "atende-offline-1"

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        user_turns = [t for t in turns if t.role == "user"]
        last = user_turns[-1].text if user_turns else ""
        folded = _fold(last)
        bill = _BILL_LINE.search(last)
        if bill:
            # An electricity bill read from a photo (service.media): show what was read.
            answer = f"Li sua conta de luz: {bill.group(1).strip()}. Vou repassar para a equipe preparar seu orçamento."
        else:
            answer = next(
                (reply for pattern, reply in _INTENTS if pattern.search(folded)),
                "Recebi sua mensagem e vou repassar para a equipe.",
            )
        quote = last if len(last) <= 80 else last[:77] + "..."
        text = f"{OFFLINE_LABEL} {answer}\nVocê disse: “{quote}” (mensagem {len(user_turns)} desta conversa)."
        return ChatCompletion(
            text=text,
            provider=self.provider,
            model=self.model,
            input_tokens=sum(len(t.text.split()) for t in turns),
            output_tokens=len(text.split()),
        )
