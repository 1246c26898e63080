"""Catalogues for the local stack: what the seeded businesses sell, written through the store adapter.

The demo bakery (``local.seed.DEMO``) and its two closed shops sell the bakery's catalogue; a pet
shop, an optical shop and a solar seller have catalogues of their own for tenants that can be
registered later (their ids are here). Stock is tracked for packaged goods and left untracked
(None) for what is made to order or is a service. Invented data.

    from local.business_seed import seed_business
    seed_business(stack)  # after seed_demo(stack): idempotent, overwrites the seeded products
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

from atende.domain.catalogue import Product
from atende.store.business import BusinessStore
from local.provision import Stack
from local.seed import CLOSED_SHOPS, DEMO

PET_SHOP = "pet-shop-amigo-fiel"
OPTICAL_SHOP = "otica-visao-clara"
SOLAR_SELLER = "solar-do-sertao"


def _p(product_id: str, name: str, price: str, description: str = "", *, stock: int | None = None, category: str = "") -> Product:
    return Product(product_id, name, Decimal(price), description, stock=stock, category=category)


BAKERY: tuple[Product, ...] = (
    _p("bolo-cenoura", "Bolo de Cenoura", "38.00", "Com cobertura de chocolate. Serve 10 fatias.", category="Bolos"),
    _p("bolo-cenoura-fatia", "Fatia de Bolo de Cenoura", "7.50", "Com cobertura de chocolate.", stock=24, category="Bolos"),
    _p("bolo-fuba", "Bolo de Fubá Cremoso", "32.00", "Receita da casa, com erva-doce.", category="Bolos"),
    _p("bolo-chocolate", "Bolo de Chocolate", "45.00", "Massa de chocolate com brigadeiro. Serve 12 fatias.", category="Bolos"),
    _p("bolo-laranja", "Bolo de Laranja", "34.00", "Com calda de laranja.", category="Bolos"),
    _p("pao-frances", "Pão Francês (unidade)", "0.90", "Saído do forno a cada hora, das 6h às 19h.", category="Pães"),
    _p("pao-queijo", "Pão de Queijo (unidade)", "2.50", "Queijo canastra.", stock=120, category="Salgados"),
    _p("pao-integral", "Pão Integral 500 g", "14.90", "Fatiado, com grãos.", stock=18, category="Pães"),
    _p("baguete", "Baguete Tradicional", "9.90", stock=15, category="Pães"),
    _p("croissant", "Croissant de Manteiga", "8.90", stock=30, category="Doces"),
    _p("sonho", "Sonho de Creme", "6.50", stock=20, category="Doces"),
    _p("coxinha", "Coxinha de Frango", "7.00", "Com catupiry.", stock=40, category="Salgados"),
    _p("empada", "Empada de Palmito", "7.50", stock=25, category="Salgados"),
    _p("torta-limao", "Torta de Limão", "62.00", "Encomenda com 24 h de antecedência. Serve 12 fatias.", category="Tortas"),
    _p("quiche", "Quiche de Alho-Poró", "54.00", "Encomenda com 24 h de antecedência.", category="Tortas"),
    _p("cafe-coado", "Café Coado 300 ml", "6.00", category="Bebidas"),
)

PET: tuple[Product, ...] = (
    _p("RAC-GOLD-AD-15", "Ração Golden Adulto 15 kg", "189.90", "Cães adultos de porte médio e grande; frango e arroz.", stock=12,
       category="Rações"),
    _p("RAC-GOLD-FI-3", "Ração Golden Filhote 3 kg", "62.90", "Filhotes até 12 meses; sabor frango.", stock=20, category="Rações"),
    _p("RAC-PREM-AD-15", "Ração Premier Adulto 15 kg", "229.90", "Raças médias; carne e arroz.", stock=6, category="Rações"),
    _p("RAC-PREM-GAT-10", "Ração Premier Gatos Castrados 10 kg", "274.50", "Controle de peso.", stock=4, category="Rações"),
    _p("RAC-WHISK-1", "Ração Whiskas Carne 1 kg", "29.90", stock=30, category="Rações"),
    _p("PET-BIF-500", "Bifinho de Frango 500 g", "24.90", "Petisco sem corantes.", stock=45, category="Petiscos"),
    _p("AREIA-4", "Areia Higiênica Pipicat 4 kg", "18.50", stock=60, category="Higiene"),
    _p("TAP-HIG-30", "Tapete Higiênico 30 unidades", "54.90", "60 x 60 cm, com gel absorvente.", category="Higiene"),
    _p("COL-ANT-M", "Coleira Antipulgas Cães Médios", "139.00", "Até 8 meses contra pulgas e carrapatos.", stock=7, category="Saúde"),
    _p("VERM-4", "Vermífugo Cães 4 comprimidos", "42.90", stock=10, category="Saúde"),
    _p("SHAMPOO-500", "Shampoo Neutro Pet 500 ml", "27.00", stock=15, category="Higiene"),
    _p("BANHO-P", "Banho e Tosa — Porte Pequeno", "65.00", "Com hora marcada; inclui corte de unhas.", category="Serviços"),
    _p("CAMA-G", "Cama Pet Grande", "159.90", "Lavável, 80 x 60 cm.", stock=0, category="Acessórios"),
    _p("ARRANH-60", "Arranhador para Gatos 60 cm", "119.90", stock=3, category="Acessórios"),
)  # fmt: skip

OPTICAL: tuple[Product, ...] = (
    _p("ARM-ACET-PR", "Armação de Acetato Preta", "289.00", "Unissex, tamanho 52.", stock=5, category="Armações"),
    _p("ARM-MET-DOU", "Armação de Metal Dourada", "349.00", "Feminina, ponte ajustável.", stock=3, category="Armações"),
    _p("LENTE-SV-AR", "Lentes Visão Simples com Antirreflexo (par)", "320.00", "Prazo de 7 dias úteis.", category="Lentes"),
    _p("LENTE-MULTI", "Lentes Multifocais (par)", "1290.00", "Com antirreflexo e filtro azul. Prazo de 10 dias úteis.",
       category="Lentes"),
    _p("LC-MENS-6", "Lentes de Contato Mensais (caixa com 6)", "169.90", "Sob receita.", stock=14, category="Lentes de contato"),
    _p("SOL-POL-AV", "Óculos de Sol Aviador Polarizado", "459.00", "Proteção UV400.", stock=4, category="Óculos de sol"),
    _p("ESTOJO", "Estojo Rígido para Óculos", "35.00", stock=40, category="Acessórios"),
    _p("SOLUCAO-360", "Solução para Lentes de Contato 360 ml", "39.90", stock=22, category="Acessórios"),
    _p("EXAME-VISTA", "Exame de Vista", "120.00", "Com optometrista, agendado.", category="Serviços"),
    _p("AJUSTE", "Ajuste e Limpeza de Armação", "0.00", "Gratuito para clientes.", category="Serviços"),
)  # fmt: skip

SOLAR: tuple[Product, ...] = (
    _p("PAINEL-550", "Painel Solar 550 W Monocristalino", "890.00", "Garantia de 12 anos (produto) e 25 anos (eficiência).", stock=80,
       category="Painéis"),
    _p("INV-5K", "Inversor Híbrido 5 kW", "6490.00", "Monofásico 220 V, com monitoramento Wi-Fi.", stock=6, category="Inversores"),
    _p("INV-3K", "Inversor On-Grid 3 kW", "3290.00", stock=9, category="Inversores"),
    _p("KIT-3KWP", "Kit Solar 3,3 kWp (6 painéis + inversor)", "14900.00", "Para contas de até R$ 350/mês. Instalação à parte.",
       category="Kits"),
    _p("KIT-5KWP", "Kit Solar 5,5 kWp (10 painéis + inversor)", "22900.00", "Para contas de até R$ 600/mês. Instalação à parte.",
       category="Kits"),
    _p("BAT-5KWH", "Bateria de Lítio 5 kWh", "15900.00", "Para inversores híbridos.", stock=2, category="Baterias"),
    _p("ESTRUT-TELHA", "Estrutura para Telhado Cerâmico (4 painéis)", "690.00", stock=25, category="Estruturas"),
    _p("INSTALACAO", "Instalação Residencial", "2500.00", "Até 10 painéis, com homologação na distribuidora.", category="Serviços"),
    _p("VISITA", "Visita Técnica", "0.00", "Avaliação do telhado e da conta de luz, sem compromisso.", category="Serviços"),
)  # fmt: skip

CATALOGUES: Mapping[str, Sequence[Product]] = {
    DEMO.tenant_id: BAKERY,
    **{shop.tenant_id: BAKERY for shop in CLOSED_SHOPS},
    PET_SHOP: PET,
    OPTICAL_SHOP: OPTICAL,
    SOLAR_SELLER: SOLAR,
}


def seed_business(stack: Stack, catalogues: Mapping[str, Sequence[Product]] = CATALOGUES, *, now: int | None = None) -> dict[str, int]:
    """Write each tenant's catalogue (products replaced whole) and bump its version; products per tenant."""
    store = BusinessStore(stack.resources["AtendeTable"].ref, cache_seconds=0)
    now = int(time.time()) if now is None else now
    written = {}
    for tenant_id, products in catalogues.items():
        store.put_products(tenant_id, products, now=now)
        store.bump_catalogue_version(tenant_id, now=now)
        written[tenant_id] = len(products)
    return written
