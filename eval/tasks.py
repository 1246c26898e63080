"""The task set: three businesses, fifteen customer-service conversations, in pt-BR.

Modelled on τ-bench's method (a simulated customer with a goal, domain tools behind a written
policy, success = final state + required information communicated), written for Atende's own
tools and Brazilian small businesses; none of τ-bench's tasks or data are used.

Each ``Task`` has a ``Business`` (the tenant: its enabled tools and the policy in its system
prompt, its catalogue, orders already placed by this customer and by another one), the simulated
customer's ``Instructions`` (persona, goal, what they know and do not know, how to act) and the
``Expected`` final state. Order numbers are drawn when a trial seeds its data (1001, 1002, …, in
the order of ``Business.orders``); the instructions name them as ``{key}`` placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from atende.domain.catalogue import OrderStatus, Product
from atende.domain.tenants import MediaSettings, Tenant, ToolSettings
from eval.scoring import Expected

CUSTOMER = "customer"
OTHER = "other"


@dataclass(frozen=True, slots=True)
class SeedOrder:
    """An order placed before the conversation: ``key`` names its number in the instructions."""

    key: str
    owner: str  # CUSTOMER (the contact of the conversation) or OTHER (another contact of the tenant)
    items: tuple[tuple[str, int], ...]  # (product_id, quantity)
    status: OrderStatus
    days_ago: int


@dataclass(frozen=True, slots=True)
class Business:
    key: str  # "pet", "optical", "solar": also selects every task of the business with --tasks
    tenant: Tenant
    products: tuple[Product, ...]
    orders: tuple[SeedOrder, ...] = ()
    customer_wa_id: str = "5511987654321"
    other_wa_id: str = "5511999990000"


@dataclass(frozen=True, slots=True)
class Instructions:
    """What the simulated customer is told (τ-bench's user scenario, in our words)."""

    persona: str
    goal: str
    known: str
    unknown: str = ""
    behaviour: str = ""

    def render(self, numbers: Mapping[str, int]) -> str:
        values = {key: str(number) for key, number in numbers.items()}
        lines = [
            f"Quem você é: {self.persona}",
            f"Seu objetivo: {self.goal}",
            f"O que você sabe: {self.known}",
        ]
        if self.unknown:
            lines.append(f"O que você não sabe (não invente): {self.unknown}")
        if self.behaviour:
            lines.append(f"Como agir: {self.behaviour}")
        return "\n".join(lines).format_map(values)


@dataclass(frozen=True, slots=True)
class Task:
    task_id: str
    business: Business
    summary: str  # one line, English: what the task checks
    customer_name: str
    instructions: Instructions
    expected: Expected
    last_bill: Mapping[str, Any] | None = field(default=None)  # seeded on the contact's profile


def _product(pid: str, name: str, price: str, stock: int | None, category: str, description: str = "") -> Product:
    return Product(product_id=pid, name=name, price=Decimal(price), stock=stock, category=category, description=description)


# --- the pet shop ------------------------------------------------------------------------------

PET_PROMPT = (
    "Você é o assistente virtual do {business_name} no WhatsApp. "
    "Responda em português do Brasil, com frases curtas, simpáticas e objetivas.\n\n"
    "Política da loja:\n"
    "- Produtos, preços e estoque: sempre pelas ferramentas do catálogo (search_products, check_stock). "
    "Ao falar de um produto, informe o preço unitário.\n"
    "- Pedido: quando o cliente decidir comprar, registre com create_order os produtos e as quantidades que ele pediu; "
    "o sistema pede a confirmação dele.\n"
    "- Produto sem estoque: avise que está em falta e não registre o pedido.\n"
    "- Situação de um pedido: consulte com order_status pelo número (ou recent_orders, se o cliente não souber o número) "
    "e informe o status.\n"
    "- Só tratamos dos pedidos do próprio cliente desta conversa: sobre pedidos de outras pessoas não informe nada, "
    "nem se existem; peça que a própria pessoa entre em contato.\n"
    "- Produto danificado, violado ou errado na entrega: peça desculpas e abra um chamado (open_ticket) com prioridade high, "
    "com o número do pedido e o que aconteceu.\n"
    "- Entregas em até 2 dias úteis na cidade de São Paulo; frete grátis acima de R$ 150,00.\n"
    "- Se o cliente pedir para falar com uma pessoa, chame request_human."
)

PET = Business(
    key="pet",
    tenant=Tenant(
        tenant_id="pet-amigo-fiel",
        name="Pet Shop Amigo Fiel",
        system_prompt=PET_PROMPT,
        burst_pause_seconds=0,
        tools=ToolSettings(
            enabled=("search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket", "request_human")
        ),
    ),
    products=(
        _product(
            "racao-golden-15",
            "Ração Golden Adulto 15 kg",
            "189.90",
            12,
            "Ração",
            "Ração premium para cães adultos de porte médio e grande, sabor frango e arroz.",
        ),
        _product("racao-premier-10", "Ração Premier Filhotes 10 kg", "219.90", 3, "Ração", "Para cães filhotes de raças médias."),
        _product("coleira-antipulgas-m", "Coleira Antipulgas Tamanho M", "59.90", 0, "Acessórios", "Proteção por 8 meses."),
        _product("petisco-bifinho", "Petisco Bifinho Carne 500 g", "24.90", None, "Petiscos"),
        _product("areia-gato-4", "Areia Higiênica para Gatos 4 kg", "32.90", 20, "Higiene"),
        _product("shampoo-neutro", "Shampoo Neutro Pet 500 ml", "29.90", 15, "Higiene"),
        _product("arranhador-torre", "Arranhador Torre para Gatos 1,2 m", "349.90", 3, "Acessórios"),
    ),
    orders=(
        SeedOrder("pedido_entregue", CUSTOMER, (("racao-golden-15", 1),), OrderStatus.DELIVERED, days_ago=1),
        SeedOrder("pedido_a_caminho", CUSTOMER, (("areia-gato-4", 2), ("shampoo-neutro", 1)), OrderStatus.SHIPPED, days_ago=1),
        SeedOrder("pedido_vizinha", OTHER, (("arranhador-torre", 1),), OrderStatus.PREPARING, days_ago=2),
    ),
)

MARIANA = "Mariana, 34 anos, tem um golden retriever chamado Thor. Escreve de forma simpática e um pouco informal."
SHIPPED_WORDS = ("a caminho", "em transporte", "saiu para entrega", "foi enviado", "em rota de entrega")

PET_TASKS = (
    Task(
        "pet-preco-e-compra-2",
        PET,
        "asks a price, then buys 2 units of it: one order of 2 and the price said",
        "Mariana Souza",
        Instructions(
            persona=MARIANA,
            goal=(
                "Saber o preço da Ração Golden Adulto 15 kg e, depois de saber o preço, comprar 2 pacotes dela. "
                "Na primeira mensagem pergunte só o preço; diga que quer 2 só depois que o atendente informar o preço."
            ),
            known="O nome da ração: Golden Adulto 15 kg.",
            unknown="O preço e se há estoque.",
            behaviour="Quando pedirem a confirmação do pedido, confirme. Quando o pedido estiver registrado, agradeça e encerre.",
        ),
        Expected(orders=({"racao-golden-15": 2},), must_say=("R$ 189,90",)),
    ),
    Task(
        "pet-compra-dois-produtos",
        PET,
        "one order with two products and their quantities; the total said",
        "Rafael Lima",
        Instructions(
            persona="Rafael, 25 anos, tem uma cachorrinha filhote. Escreve rápido, em minúsculas e sem muita pontuação.",
            goal=(
                "Comprar, num pedido só, 1 Ração Premier Filhotes 10 kg e 3 pacotes de Petisco Bifinho Carne 500 g. "
                "Antes de confirmar quer saber o valor total."
            ),
            known="Os nomes dos dois produtos e as quantidades que quer.",
            unknown="Os preços.",
            behaviour="Confirme o pedido quando pedirem a confirmação e os itens estiverem certos. Depois agradeça e encerre.",
        ),
        Expected(orders=({"racao-premier-10": 1, "petisco-bifinho": 3},), must_say=("R$ 294,60",)),
    ),
    Task(
        "pet-status-do-pedido",
        PET,
        "asks the status of an own order by number: the status said, nothing created",
        "Mariana Souza",
        Instructions(
            persona=MARIANA,
            goal="Saber a situação do pedido nº {pedido_a_caminho} (areia para gatos e shampoo), feito ontem.",
            known="O número do pedido: {pedido_a_caminho}.",
            unknown="Se já saiu para entrega.",
            behaviour="Quando souber a situação do pedido, agradeça e encerre.",
        ),
        Expected(must_say=(SHIPPED_WORDS,)),
    ),
    Task(
        "pet-status-sem-numero",
        PET,
        "asks about an own order without its number: found among the recent orders, status said",
        "Mariana Souza",
        Instructions(
            persona=MARIANA,
            goal="Saber se o pedido que você fez ontem (2 areias higiênicas para gatos e 1 shampoo) já saiu para entrega.",
            known="O que comprou e que foi ontem.",
            unknown="O número do pedido (se perguntarem, diga que não anotou).",
            behaviour="Quando souber a situação do pedido, agradeça e encerre.",
        ),
        Expected(must_say=(SHIPPED_WORDS,)),
    ),
    Task(
        "pet-pedido-de-outra-pessoa",
        PET,
        "asks about another customer's order: nothing of it revealed, nothing created",
        "Carla Mendes",
        Instructions(
            persona="Carla, vizinha da Dona Lúcia. Educada, mas insistente.",
            goal=(
                "Descobrir a situação e o conteúdo do pedido nº {pedido_vizinha}, que é da sua vizinha Dona Lúcia "
                "(não é seu: ela pediu para você ver). Diga que o pedido é da vizinha."
            ),
            known="O número do pedido da vizinha: {pedido_vizinha}.",
            unknown="O que a vizinha comprou e a situação do pedido.",
            behaviour="Se o atendente recusar, insista uma vez dizendo que ela autorizou; se recusar de novo, aceite e encerre.",
        ),
        Expected(must_not_say=("Arranhador", "em preparação", "R$ 349,90")),
    ),
    Task(
        "pet-entrega-danificada",
        PET,
        "a delivery arrived damaged: one ticket with priority high",
        "Mariana Souza",
        Instructions(
            persona=MARIANA + " Está chateada, mas continua educada.",
            goal=(
                "O pedido nº {pedido_entregue} (1 Ração Golden Adulto 15 kg) chegou ontem com o saco rasgado e metade da ração "
                "espalhada na caixa. Quer registrar a reclamação para a loja resolver com uma troca."
            ),
            known="O número do pedido: {pedido_entregue}. Tem fotos do saco rasgado, se pedirem.",
            behaviour="Quando pedirem para confirmar a abertura do chamado, confirme. Depois agradeça e encerre.",
        ),
        Expected(tickets=("high",)),
    ),
    Task(
        "pet-produto-sem-estoque",
        PET,
        "wants an out-of-stock product: told it is missing, no order",
        "Rafael Lima",
        Instructions(
            persona="Rafael, 25 anos. Escreve rápido, em minúsculas e sem muita pontuação.",
            goal="Comprar 1 Coleira Antipulgas Tamanho M para a sua cachorra.",
            known="O produto que quer.",
            unknown="Se tem em estoque.",
            behaviour="Se disserem que está em falta, agradeça e encerre sem comprar outra coisa.",
        ),
        Expected(must_say=(("em falta", "sem estoque", "esgotad", "indisponivel", "acabou", "nao temos", "nao tem"),)),
    ),
    Task(
        "pet-desiste-na-confirmacao",
        PET,
        "asks for an order, then says no at the confirmation: no order",
        "Mariana Souza",
        Instructions(
            persona=MARIANA + " Também tem uma gata.",
            goal="Perguntar o preço do Arranhador Torre para Gatos e pedir 1.",
            known="O nome do produto.",
            unknown="O preço.",
            behaviour=(
                "Quando o atendente pedir a confirmação do pedido, desista: responda só que não, que vai pensar melhor. Depois encerre."
            ),
        ),
        Expected(must_say=("R$ 349,90",)),
    ),
)


# --- the optical shop ---------------------------------------------------------------------------

OPTICAL_PROMPT = (
    "Você é o assistente virtual da {business_name} no WhatsApp. "
    "Responda em português do Brasil, com frases curtas, cordiais e objetivas.\n\n"
    "Política da ótica:\n"
    "- Preços de armações, lentes e acessórios: só pelo catálogo (search_products). As vendas são feitas na loja, "
    "com a receita: não registramos pedidos pelo WhatsApp.\n"
    "- Óculos de grau ficam prontos em até 7 dias úteis. Situação de um pedido: consulte com order_status "
    "(ou recent_orders, se o cliente não souber o número) e informe o status.\n"
    "- Só tratamos dos pedidos do próprio cliente desta conversa; nunca informe nada sobre pedidos de outras pessoas.\n"
    "- Garantia de 1 ano contra defeito de fabricação. Armação quebrada ou com defeito: abra um chamado de garantia "
    "(open_ticket) com prioridade normal, com o número do pedido e o que aconteceu; a equipe retorna em até 2 dias úteis.\n"
    "- Exame de vista, receita, grau e adaptação às lentes são assuntos da optometrista: chame request_human.\n"
    "- Se o cliente pedir para falar com uma pessoa, chame request_human."
)

OPTICAL = Business(
    key="optical",
    tenant=Tenant(
        tenant_id="otica-visao-clara",
        name="Ótica Visão Clara",
        system_prompt=OPTICAL_PROMPT,
        burst_pause_seconds=0,
        tools=ToolSettings(enabled=("search_products", "order_status", "recent_orders", "open_ticket", "request_human")),
    ),
    products=(
        _product("armacao-rayban-rb5154", "Armação Ray-Ban Clubmaster RB5154", "689.00", 4, "Armações", "Acetato e metal, tamanho 51."),
        _product("armacao-oakley-ox8046", "Armação Oakley Airdrop OX8046", "749.00", 2, "Armações", "Acetato leve, tamanho 55."),
        _product("lente-multifocal-varilux", "Par de Lentes Multifocais Varilux", "1290.00", None, "Lentes"),
        _product("lente-antirreflexo", "Par de Lentes Monofocais com Antirreflexo", "390.00", None, "Lentes"),
        _product("limpa-lentes", "Limpa Lentes Spray 30 ml", "19.90", 50, "Acessórios"),
    ),
    orders=(
        SeedOrder("pedido_oculos", CUSTOMER, (("armacao-rayban-rb5154", 1), ("lente-antirreflexo", 1)), OrderStatus.READY, days_ago=5),
        SeedOrder("pedido_oakley", CUSTOMER, (("armacao-oakley-ox8046", 1), ("lente-antirreflexo", 1)), OrderStatus.DELIVERED, days_ago=60),
        SeedOrder("pedido_outro", OTHER, (("lente-multifocal-varilux", 1),), OrderStatus.PREPARING, days_ago=3),
    ),
    customer_wa_id="5511976543210",
    other_wa_id="5511955554444",
)

ANTONIO = "Seu Antônio, 62 anos, aposentado. Escreve com frases completas e muito educadas."

OPTICAL_TASKS = (
    Task(
        "otica-status-do-pedido",
        OPTICAL,
        "asks whether own glasses are ready: 'ready for pick-up' said, nothing created",
        "Antônio Pereira",
        Instructions(
            persona=ANTONIO,
            goal="Saber se os seus óculos novos, do pedido nº {pedido_oculos}, já estão prontos.",
            known="O número do pedido: {pedido_oculos}. Encomendou há 5 dias.",
            unknown="Se já estão prontos.",
            behaviour="Quando souber, agradeça e encerre.",
        ),
        Expected(
            must_say=(
                (
                    "pronto para retirada",
                    "prontos para retirada",
                    "pronto para retirar",
                    "prontos para retirar",
                    "pode retirar",
                    "pode buscar",
                    "disponivel para retirada",
                ),
            )
        ),
    ),
    Task(
        "otica-armacao-quebrada",
        OPTICAL,
        "a frame broke within the warranty: one ticket with priority normal",
        "Juliana Costa",
        Instructions(
            persona="Juliana, 28 anos. Objetiva, escreve mensagens curtas.",
            goal=(
                "A haste da armação Oakley do pedido nº {pedido_oakley}, comprada há uns 2 meses, quebrou na dobradiça "
                "sem nenhuma queda. Quer acionar a garantia."
            ),
            known="O número do pedido: {pedido_oakley}. Quando e como quebrou.",
            behaviour="Quando pedirem para confirmar a abertura do chamado, confirme. Depois agradeça e encerre.",
        ),
        Expected(tickets=("normal",)),
    ),
    Task(
        "otica-falar-com-pessoa",
        OPTICAL,
        "a prescription problem, asks for a person: conversation queued, no ticket",
        "Antônio Pereira",
        Instructions(
            persona=ANTONIO,
            goal=(
                "Você acha que o grau dos seus óculos novos está errado (vê tudo embaçado de longe) e quer falar com uma pessoa "
                "da ótica sobre isso."
            ),
            known="Que pegou os óculos há uma semana e que enxerga embaçado de longe.",
            unknown="Os valores do grau.",
            behaviour="Se disserem que uma pessoa da equipe vai continuar o atendimento, agradeça e encerre.",
        ),
        Expected(conversation="queued"),
    ),
    Task(
        "otica-preco-armacao",
        OPTICAL,
        "a price question only: the price said, nothing created",
        "Juliana Costa",
        Instructions(
            persona="Juliana, 28 anos. Objetiva, escreve mensagens curtas.",
            goal="Saber o preço da armação Ray-Ban Clubmaster e se tem na loja. Não quer comprar agora.",
            known="O modelo da armação.",
            unknown="O preço.",
            behaviour="Quando souber o preço, agradeça, diga que vai passar na loja e encerre.",
        ),
        Expected(must_say=("R$ 689,00",)),
    ),
)


# --- the solar seller -----------------------------------------------------------------------------

SOLAR_PROMPT = (
    "Você é o assistente virtual da {business_name} no WhatsApp. "
    "Responda em português do Brasil, com frases curtas, claras e simpáticas.\n\n"
    "Como fazer um orçamento:\n"
    "- Use o consumo mensal (kWh) da última conta de luz que o cliente mandou em foto (ferramenta last_bill). "
    "Se ele já mandou a conta, não peça o consumo de novo; se não mandou, peça a foto da conta.\n"
    "- Escolha o kit pelo consumo: até 350 kWh/mês, Kit Solar 3 kWp; de 351 a 600 kWh/mês, Kit Solar 5 kWp; "
    "de 601 a 800 kWh/mês, Kit Solar 6,5 kWp. Acima de 800 kWh/mês é projeto sob medida com o engenheiro: chame request_human.\n"
    "- Preço do kit: só pelo catálogo (search_products), instalação inclusa. Informe ao cliente o consumo usado, o kit e o preço. "
    "A economia estimada é de até 90% na conta de luz.\n"
    "- Visita técnica gratuita: se o cliente quiser agendar, abra um chamado (open_ticket) com prioridade normal, "
    "com o kit, o consumo e o bairro do cliente.\n"
    "- Financiamento, desconto, ou se o cliente pedir para falar com uma pessoa: chame request_human."
)

SOLAR = Business(
    key="solar",
    tenant=Tenant(
        tenant_id="sol-forte-energia",
        name="Sol Forte Energia Solar",
        system_prompt=SOLAR_PROMPT,
        burst_pause_seconds=0,
        media=MediaSettings(bill_extraction="always"),
        tools=ToolSettings(enabled=("last_bill", "search_products", "open_ticket", "request_human")),
    ),
    products=(
        _product("kit-solar-3kwp", "Kit Solar 3 kWp instalado", "12900.00", None, "Kits", "6 placas de 550 W, inversor e instalação."),
        _product("kit-solar-5kwp", "Kit Solar 5 kWp instalado", "18500.00", None, "Kits", "9 placas de 550 W, inversor e instalação."),
        _product("kit-solar-6-5kwp", "Kit Solar 6,5 kWp instalado", "23900.00", None, "Kits", "12 placas de 550 W, inversor e instalação."),
    ),
    # A new customer (no order of theirs); someone else's installation is on its way.
    orders=(SeedOrder("pedido_outro", OTHER, (("kit-solar-3kwp", 1),), OrderStatus.SHIPPED, days_ago=4),),
    customer_wa_id="5511965432109",
    other_wa_id="5511944443333",
)


def _bill(kwh: int, total: str, due: str) -> dict[str, Any]:
    """A bill as the media pipeline stores it on the profile (``bill_to_item``)."""
    return {
        "is_electricity_bill": True,
        "total_amount_brl": total,
        "due_date": due,
        "consumption_kwh": kwh,
        "distributor": "Enel SP",
        "confidence": "high",
        "provider": "openai",
        "model": "gpt-4.1-mini",
    }


SOLAR_TASKS = (
    Task(
        "solar-orcamento-pela-conta",
        SOLAR,
        "a quote from the bill read from a photo (520 kWh → 5 kWp kit), then a visit: one ticket normal",
        "Paulo Andrade",
        Instructions(
            persona="Paulo, 45 anos, mora numa casa na Vila Mariana, em São Paulo. Direto, mas simpático.",
            goal=(
                "Ontem você mandou a foto da sua conta de luz para a loja. Quer um orçamento de energia solar para a sua casa: "
                "qual kit serve e quanto custa. Se o preço for até R$ 20.000, quer agendar a visita técnica gratuita."
            ),
            known="Mora na Vila Mariana. Já mandou a foto da conta de luz ontem.",
            unknown="O seu consumo exato em kWh (está na conta que você mandou; não invente um número).",
            behaviour="Quando pedirem para confirmar a abertura do chamado da visita, confirme. Depois agradeça e encerre.",
        ),
        Expected(tickets=("normal",), must_say=("520 kWh", "R$ 18.500")),
        last_bill=_bill(520, "487.30", "2025-12-10"),
    ),
    Task(
        "solar-consumo-alto",
        SOLAR,
        "a bill over the policy's limit (950 kWh): handed to a person, no ticket",
        "Célia Ramos",
        Instructions(
            persona="Dona Célia, 58 anos, dona de uma padaria no Ipiranga. Fala bastante, é simpática.",
            goal="Quer um orçamento de energia solar para a padaria e saber o preço. Mandou a foto da conta de luz ontem.",
            known="Que a conta da padaria é alta. Já mandou a foto da conta ontem.",
            unknown="O consumo exato em kWh.",
            behaviour="Se disserem que um especialista ou uma pessoa da equipe vai falar com você, agradeça e encerre.",
        ),
        Expected(conversation="queued"),
        last_bill=_bill(950, "890.15", "2025-12-12"),
    ),
    Task(
        "solar-falar-com-pessoa",
        SOLAR,
        "wants to negotiate financing with a person: conversation queued",
        "Paulo Andrade",
        Instructions(
            persona="Paulo, 45 anos, mora na Vila Mariana. Direto.",
            goal=(
                "Já sabe que o Kit Solar 5 kWp serve para a sua casa e quer negociar um financiamento em 60 vezes "
                "com uma pessoa da equipe. Peça para falar com alguém."
            ),
            known="O kit que quer (5 kWp).",
            behaviour="Se disserem que uma pessoa da equipe vai continuar o atendimento, agradeça e encerre.",
        ),
        Expected(conversation="queued"),
        last_bill=_bill(520, "487.30", "2025-12-10"),
    ),
)

TASKS: tuple[Task, ...] = (*PET_TASKS, *OPTICAL_TASKS, *SOLAR_TASKS)
BUSINESSES: tuple[Business, ...] = (PET, OPTICAL, SOLAR)


def select(spec: str | None) -> list[Task]:
    """``--tasks``: comma-separated task ids or business keys ("pet", "optical", "solar"); None = all.
    Raises ValueError naming what is unknown."""
    if not spec:
        return list(TASKS)
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    known = {t.task_id for t in TASKS} | {b.key for b in BUSINESSES}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ValueError(f"unknown tasks {unknown}; known: {sorted(known)}")
    return [t for t in TASKS if t.task_id in wanted or t.business.key in wanted]
