"""A deterministic synthetic Olist source with Kaggle's cardinalities at scale 1.

Same scale and seed, byte-identical table contents: every draw comes from numpy Generators
spawned from the seed (one stream per entity, so changing how one table is drawn does not shift
the others), and no value depends on the wall clock.

Seeded rows are history, so they carry an explicit updated_at: the time of the row's last
business event (an order's latest status timestamp, a review's answer, a customer's purchase;
products, sellers, places and categories get registration times spread over 2016-2018). A source
seeded a minute ago then looks like one that has been running for years: a full sync's watermark
is the latest event in the data, and the next incremental sync (watermark minus the lookback
window) carries the rows that changed since, not every seeded row because they were all written
within the last minutes. Rows inserted or changed later get the database's clock.

Entities are drawn as whole numpy arrays (ids, indexes, seconds, cents) and turned into text
only chunk by chunk on the way to the shared bulk writer, so the 1M geolocation rows never exist
as Python strings all at once.

Shapes follow the public Olist data: order status mix, items per order, payment types and
voucher splits, review scores and comment rates, product gaps (no category, no dimensions),
state weights (SP ~42% of customers, ~60% of sellers), zip prefix ranges per state (SP starts at
01000, so leading zeros), purchases 2016-09..2018-10. Payments per order add up to the order's
items price + freight to the cent, so reconciliation holds.
"""

from __future__ import annotations

import math
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import sqlalchemy as sa

from olist_etl.source.bulk import assert_tables_empty, open_table_writer
from olist_etl.source.report import SeedReport
from olist_etl.source.schema import ensure_seed_marker_table, source_dialect, write_seed_marker
from olist_etl.tables import TABLES, get_table

CHUNK_ROWS = 50_000

# Kaggle row counts (scale 1).
ORDERS = 99_441
PRODUCTS = 32_951
SELLERS = 3_095
GEOLOCATION_ROWS = 1_000_163
ZIP_PREFIXES = 19_015
PRODUCTS_WITHOUT_CATEGORY = 610
PRODUCTS_WITHOUT_DIMENSIONS = 2

DAY = 86_400

# (Portuguese category, English name written for this project, rough product count in Olist).
CATEGORIES: tuple[tuple[str, str, int], ...] = (
    ("cama_mesa_banho", "bed_bath_table", 3029),
    ("esporte_lazer", "sports_leisure", 2867),
    ("moveis_decoracao", "furniture_decor", 2657),
    ("beleza_saude", "health_beauty", 2444),
    ("utilidades_domesticas", "housewares", 2335),
    ("automotivo", "automotive", 1900),
    ("informatica_acessorios", "computers_accessories", 1639),
    ("brinquedos", "toys", 1411),
    ("relogios_presentes", "watches_gifts", 1329),
    ("telefonia", "telephony", 1134),
    ("bebes", "baby", 919),
    ("perfumaria", "perfumery", 868),
    ("fashion_bolsas_e_acessorios", "fashion_bags_accessories", 849),
    ("papelaria", "stationery", 849),
    ("cool_stuff", "cool_stuff", 789),
    ("ferramentas_jardim", "garden_tools", 753),
    ("pet_shop", "pet_shop", 719),
    ("eletronicos", "electronics", 517),
    ("construcao_ferramentas_construcao", "construction_tools_building", 400),
    ("eletrodomesticos", "home_appliances", 370),
    ("malas_acessorios", "luggage_accessories", 349),
    ("consoles_games", "consoles_games", 317),
    ("moveis_escritorio", "office_furniture", 309),
    ("instrumentos_musicais", "musical_instruments", 289),
    ("eletroportateis", "small_appliances", 231),
    ("casa_construcao", "home_construction", 225),
    ("livros_interesse_geral", "books_general_interest", 216),
    ("fashion_calcados", "fashion_shoes", 173),
    ("moveis_sala", "living_room_furniture", 156),
    ("climatizacao", "air_conditioning", 124),
    ("livros_tecnicos", "technical_books", 123),
    ("telefonia_fixa", "landline_telephony", 116),
    ("casa_conforto", "home_comfort", 111),
    ("alimentos_bebidas", "food_drink", 104),
    ("market_place", "marketplace", 104),
    ("fashion_roupa_masculina", "fashion_menswear", 95),
    ("moveis_cozinha_area_de_servico_jantar_e_jardim", "kitchen_laundry_dining_garden_furniture", 94),
    ("sinalizacao_e_seguranca", "signage_and_security", 93),
    ("construcao_ferramentas_seguranca", "construction_tools_safety", 91),
    ("eletrodomesticos_2", "home_appliances_2", 90),
    ("construcao_ferramentas_jardim", "construction_tools_garden", 88),
    ("alimentos", "food", 82),
    ("bebidas", "drinks", 81),
    ("construcao_ferramentas_iluminacao", "construction_tools_lighting", 78),
    ("agro_industria_e_comercio", "agribusiness_and_trade", 74),
    ("industria_comercio_e_negocios", "industry_trade_and_business", 68),
    ("artigos_de_natal", "christmas_articles", 65),
    ("audio", "audio", 58),
    ("artes", "art", 55),
    ("fashion_underwear_e_moda_praia", "fashion_underwear_and_beachwear", 53),
    ("dvds_blu_ray", "dvds_blu_ray", 48),
    ("moveis_quarto", "bedroom_furniture", 45),
    ("fashion_roupa_feminina", "fashion_womenswear", 45),
    ("construcao_ferramentas_ferramentas", "construction_tools_tools", 39),
    ("livros_importados", "imported_books", 31),
    ("pcs", "computers", 30),
    ("cine_foto", "cinema_photo", 28),
    ("musica", "music", 27),
    ("artigos_de_festas", "party_supplies", 26),
    ("fashion_esporte", "fashion_sportswear", 19),
    ("artes_e_artesanato", "arts_and_crafts", 19),
    ("flores", "flowers", 14),
    ("fraldas_higiene", "diapers_and_hygiene", 12),
    ("tablets_impressao_imagem", "tablets_printing_imaging", 9),
    ("portateis_casa_forno_e_cafe", "small_appliances_oven_and_coffee", 10),
    ("la_cuisine", "la_cuisine", 10),
    ("moveis_colchao_e_estofado", "furniture_mattresses_upholstery", 10),
    ("fashion_roupa_infanto_juvenil", "fashion_childrenswear", 5),
    ("casa_conforto_2", "home_comfort_2", 5),
    ("seguros_e_servicos", "insurance_and_services", 2),
    ("cds_dvds_musicais", "music_cds_dvds", 1),
)


@dataclass(frozen=True)
class State:
    code: str
    customer_share: float  # % of Olist customers
    seller_count: int  # Olist sellers
    zip_low: int
    zip_high: int
    lat: float
    lng: float
    cities: tuple[str, ...]  # capital first, spelled as the geolocation file does (accents)


STATES: tuple[State, ...] = (
    State("SP", 41.98, 1849, 1000, 19999, -23.55, -46.63, ("são paulo", "campinas", "guarulhos", "santo andré", "são bernardo do campo", "osasco", "ribeirão preto", "sorocaba", "santos", "são josé dos campos", "jundiaí", "mogi das cruzes")),
    State("RJ", 12.92, 171, 20000, 28999, -22.91, -43.20, ("rio de janeiro", "niterói", "são gonçalo", "duque de caxias", "nova iguaçu", "petrópolis", "campos dos goytacazes")),
    State("MG", 11.70, 244, 30000, 39999, -19.92, -43.94, ("belo horizonte", "contagem", "juiz de fora", "uberlândia", "betim", "montes claros")),
    State("RS", 5.50, 129, 90000, 99999, -30.03, -51.23, ("porto alegre", "caxias do sul", "canoas", "pelotas", "santa maria")),
    State("PR", 5.07, 349, 80000, 87999, -25.43, -49.27, ("curitiba", "londrina", "maringá", "ponta grossa", "cascavel")),
    State("SC", 3.66, 190, 88000, 89999, -27.59, -48.55, ("florianópolis", "joinville", "blumenau", "são josé", "itajaí")),
    State("BA", 3.40, 19, 40000, 48999, -12.97, -38.50, ("salvador", "feira de santana", "vitória da conquista", "lauro de freitas")),
    State("DF", 2.15, 30, 70000, 72799, -15.79, -47.88, ("brasília", "taguatinga", "ceilândia")),
    State("ES", 2.04, 23, 29000, 29999, -20.32, -40.34, ("vitória", "vila velha", "serra", "cariacica")),
    State("GO", 2.03, 40, 72800, 76799, -16.68, -49.25, ("goiânia", "aparecida de goiânia", "anápolis")),
    State("PE", 1.66, 9, 50000, 56999, -8.05, -34.88, ("recife", "jaboatão dos guararapes", "olinda", "caruaru")),
    State("CE", 1.34, 13, 60000, 63999, -3.73, -38.52, ("fortaleza", "caucaia", "juazeiro do norte")),
    State("PA", 0.98, 1, 66000, 68899, -1.46, -48.49, ("belém", "ananindeua", "santarém")),
    State("MT", 0.91, 4, 78000, 78899, -15.60, -56.10, ("cuiabá", "várzea grande", "rondonópolis")),
    State("MA", 0.75, 1, 65000, 65999, -2.53, -44.30, ("são luís", "imperatriz")),
    State("MS", 0.72, 5, 79000, 79999, -20.44, -54.65, ("campo grande", "dourados")),
    State("PB", 0.54, 6, 58000, 58999, -7.12, -34.86, ("joão pessoa", "campina grande")),
    State("PI", 0.50, 1, 64000, 64999, -5.09, -42.80, ("teresina", "parnaíba")),
    State("RN", 0.49, 5, 59000, 59999, -5.79, -35.21, ("natal", "mossoró")),
    State("AL", 0.42, 0, 57000, 57999, -9.67, -35.74, ("maceió", "arapiraca")),
    State("SE", 0.35, 2, 49000, 49999, -10.91, -37.07, ("aracaju", "nossa senhora do socorro")),
    State("TO", 0.28, 0, 77000, 77999, -10.18, -48.33, ("palmas", "araguaína")),
    State("RO", 0.25, 2, 76800, 76999, -8.76, -63.90, ("porto velho", "ji-paraná")),
    State("AM", 0.15, 1, 69000, 69299, -3.12, -60.02, ("manaus", "parintins")),
    State("AC", 0.08, 1, 69900, 69999, -9.97, -67.81, ("rio branco", "cruzeiro do sul")),
    State("AP", 0.07, 0, 68900, 68999, 0.03, -51.07, ("macapá", "santana")),
    State("RR", 0.05, 0, 69300, 69399, 2.82, -60.67, ("boa vista",)),
)

# Order statuses with their Olist counts.
ORDER_STATUSES: tuple[tuple[str, int], ...] = (
    ("delivered", 96_478), ("shipped", 1_107), ("canceled", 625), ("unavailable", 609),
    ("invoiced", 314), ("processing", 301), ("created", 5), ("approved", 2),
)
# Orders per month, 2016-09 .. 2018-10, shaped like Olist's growth.
MONTHS_FROM = np.datetime64("2016-09", "M")
MONTHLY_ORDERS = (4, 324, 1, 1, 800, 1780, 2682, 2404, 3700, 3245, 4026, 4331, 4285, 4631, 7544, 5673,
                  7269, 6728, 7211, 6939, 6873, 6167, 6292, 6512, 16, 4)
# Items per order (orders that have items).
ITEMS_PER_ORDER: tuple[tuple[int, int], ...] = (
    (1, 88_863), (2, 7_516), (3, 1_322), (4, 505), (5, 204), (6, 198), (7, 22), (8, 8), (9, 3),
    (10, 8), (11, 4), (12, 5), (13, 1), (14, 2), (15, 2), (20, 2), (21, 1),
)
# The payment an order is mainly paid with; vouchers are also added in front of some payments.
PRIMARY_PAYMENTS: tuple[tuple[str, float], ...] = (
    ("credit_card", 0.773), ("boleto", 0.199), ("debit_card", 0.0154), ("voucher", 0.0125), ("not_defined", 0.00003),
)
EXTRA_VOUCHER_RATE = 0.028
CARD_INSTALLMENTS: tuple[tuple[int, float], ...] = (
    (1, 48.0), (2, 12.4), (3, 10.4), (4, 7.1), (5, 5.4), (6, 4.0), (7, 1.6), (8, 4.4), (9, 0.6),
    (10, 5.5), (11, 0.02), (12, 0.13), (13, 0.02), (14, 0.02), (15, 0.07), (16, 0.01), (17, 0.01),
    (18, 0.03), (20, 0.02), (21, 0.003), (22, 0.001), (23, 0.001), (24, 0.02), (0, 0.003),
)
REVIEW_SCORES: tuple[tuple[int, float], ...] = ((5, 57.8), (4, 19.3), (3, 8.2), (2, 3.2), (1, 11.5))
REVIEWED_ORDER_RATE = 0.984
SECOND_REVIEW_RATE = 0.0056
SHARED_REVIEW_RATE = 0.0082
COMMENT_RATE = 0.413
TITLE_RATE = 0.117
CUSTOMER_REPEAT_RATE = 0.0336  # customers whose customer_unique_id another customer has too
GEOLOCATION_DUPLICATE_RATE = 0.26

# Review texts written for this project: quotes, commas, semicolons, CR/LF inside, accents, emoji.
MESSAGES: dict[str, tuple[str, ...]] = {
    "good": (
        "Produto excelente, chegou antes do prazo!",
        "Recomendo a loja, entrega rápida e produto de ótima qualidade.",
        'Tudo certo, "original" e bem embalado.',
        "Muito bom 😍",
        "Chegou tudo direitinho.\r\nObrigado!",
        "Adorei, superou as expectativas; comprarei novamente.",
        "ótimo custo-benefício, recomendo",
        "Perfeito!!! Entrega no prazo, produto conforme o anúncio.",
    ),
    "fair": (
        "Produto ok, mas a embalagem veio amassada.",
        "Razoável. O tamanho é menor do que parece na foto",
        'Chegou, porém faltou o manual "em português".',
        "Bom, mas demorou um pouco para chegar",
    ),
    "bad": (
        "Não recebi o produto até agora.",
        "Comprei 2 unidades, recebi só 1.\nAguardo retorno da loja.",
        "Produto com defeito, quero devolver; já abri reclamação.",
        'Péssimo! Veio "diferente" do anunciado 😡',
        "A entrega atrasou mais de 10 dias, não recomendo",
    ),
}
TITLES: dict[str, tuple[str, ...]] = {
    "good": ("Recomendo", "Ótimo", "Super recomendo", "Excelente 👍"),
    "fair": ("Bom", "Razoável"),
    "bad": ("Não recebi", "Péssimo", "Produto errado"),
}

# Appending a stream keeps the others unchanged (SeedSequence children depend only on their index).
_STREAMS = ("places", "customers", "sellers", "products", "orders", "items", "payments", "reviews", "geolocation", "history")
HISTORY_FROM = np.datetime64("2016-09-01T00:00:00", "s").astype(np.int64)
HISTORY_UNTIL = np.datetime64("2018-09-01T00:00:00", "s").astype(np.int64)


def scaled(count: int, scale: float) -> int:
    """A Kaggle row count at a scale; every table keeps at least one row."""
    return max(1, round(count * scale))


def _shares(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def plain_city(name: str) -> str:
    """The unaccented spelling the customers and sellers files use ("são paulo" -> "sao paulo")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


def hex_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` distinct 32-hex-digit ids (Olist's shape), drawn from the stream."""
    ids = np.frombuffer(rng.bytes(16 * count).hex().encode("ascii"), dtype="S32").astype("U32")
    if len(np.unique(ids)) != count:  # 128 random bits: never in practice, but never silently
        raise RuntimeError("synthetic id collision; use another seed")
    return ids


def _positions_in_groups(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for each group, concatenated: [2, 3] -> [0, 1, 0, 1, 2]."""
    starts = np.cumsum(sizes) - sizes
    return np.arange(int(sizes.sum())) - np.repeat(starts, sizes)


# ---------------------------------------------------------------------------------------------
# The synthetic world: numeric arrays only.


@dataclass
class Places:
    """The zip prefixes in use: customers, sellers and geolocation rows all sit on these."""

    state: np.ndarray  # index into STATES
    zip: np.ndarray  # U5, leading zeros kept
    zip_number: np.ndarray
    city: np.ndarray  # index into city_names
    lat: np.ndarray
    lng: np.ndarray
    city_names: np.ndarray  # accented spellings
    plain_city_names: np.ndarray
    _by_state: np.ndarray
    _state_start: np.ndarray
    _state_count: np.ndarray

    def pick(self, rng: np.random.Generator, states: np.ndarray) -> np.ndarray:
        """A random place in each given state."""
        offset = (rng.random(len(states)) * self._state_count[states]).astype(np.int64)
        return self._by_state[self._state_start[states] + offset]


def build_places(rng: np.random.Generator, scale: float) -> Places:
    count = max(len(STATES), scaled(ZIP_PREFIXES, scale))
    shares = _shares([s.customer_share for s in STATES])
    # One place per state first, so every state can host a customer or seller at any scale.
    state = np.concatenate([np.arange(len(STATES)), rng.choice(len(STATES), count - len(STATES), p=shares)])
    low = np.array([s.zip_low for s in STATES])
    high = np.array([s.zip_high for s in STATES])
    zip_number = rng.integers(low[state], high[state] + 1)
    city_offset = np.cumsum([0] + [len(s.cities) for s in STATES])[:-1]
    city_count = np.array([len(s.cities) for s in STATES])
    # Half of a state's prefixes are in its capital.
    other = (rng.random(count) * city_count[state]).astype(np.int64)
    city = city_offset[state] + np.where(rng.random(count) < 0.5, 0, other)
    lat = np.array([s.lat for s in STATES])[state] + rng.normal(0, 0.8, count)
    lng = np.array([s.lng for s in STATES])[state] + rng.normal(0, 0.8, count)
    names = [c for s in STATES for c in s.cities]
    by_state = np.argsort(state, kind="stable")
    return Places(
        state=state,
        zip=np.char.zfill(zip_number.astype("U5"), 5),
        zip_number=zip_number,
        city=city,
        lat=lat,
        lng=lng,
        city_names=np.array(names),
        plain_city_names=np.array([plain_city(c) for c in names]),
        _by_state=by_state,
        _state_start=np.searchsorted(state[by_state], np.arange(len(STATES))),
        _state_count=np.bincount(state, minlength=len(STATES)),
    )


@dataclass
class Customers:
    id: np.ndarray
    unique_id: np.ndarray
    place: np.ndarray


def build_customers(rng: np.random.Generator, count: int, places: Places) -> Customers:
    states = rng.choice(len(STATES), count, p=_shares([s.customer_share for s in STATES]))
    uniques = max(1, round(count * (1 - CUSTOMER_REPEAT_RATE)))
    # The first `uniques` customers are distinct people; the rest are returning ones.
    person = np.concatenate([np.arange(uniques), rng.integers(0, uniques, count - uniques)])
    person = person[rng.permutation(count)]
    return Customers(id=hex_ids(rng, count), unique_id=hex_ids(rng, uniques)[person], place=places.pick(rng, states))


@dataclass
class Sellers:
    id: np.ndarray
    place: np.ndarray
    popularity: np.ndarray


def build_sellers(rng: np.random.Generator, count: int, places: Places) -> Sellers:
    states = rng.choice(len(STATES), count, p=_shares([s.seller_count for s in STATES]))
    popularity = rng.pareto(1.2, count) + 1.0
    return Sellers(id=hex_ids(rng, count), place=places.pick(rng, states), popularity=popularity / popularity.sum())


@dataclass
class Products:
    id: np.ndarray
    category: np.ndarray  # index into CATEGORIES; -1: none
    name_length: np.ndarray
    description_length: np.ndarray
    photos: np.ndarray
    weight: np.ndarray  # -1: unknown (as the four dimensions)
    length: np.ndarray
    height: np.ndarray
    width: np.ndarray
    seller: np.ndarray
    price_cents: np.ndarray
    popularity: np.ndarray

    @property
    def without_category(self) -> np.ndarray:
        return self.category < 0

    @property
    def without_dimensions(self) -> np.ndarray:
        return self.weight < 0


def _lognormal_ints(rng: np.random.Generator, median: float, sigma: float, low: int, high: int, count: int) -> np.ndarray:
    return np.clip(np.rint(rng.lognormal(math.log(median), sigma, count)), low, high).astype(np.int64)


def build_products(rng: np.random.Generator, count: int, scale: float, sellers: Sellers) -> Products:
    category = rng.choice(len(CATEGORIES), count, p=_shares([c[2] for c in CATEGORIES]))
    # Every category has products when there are enough products (the rarest has one in Olist).
    order = rng.permutation(count)
    every = order[: len(CATEGORIES)]
    category[every] = np.arange(len(every))
    without = min(count - len(every), round(PRODUCTS_WITHOUT_CATEGORY * scale))
    category[order[len(every) : len(every) + without]] = -1
    weight = _lognormal_ints(rng, 700, 1.1, 0, 40_425, count)
    no_dimensions = rng.choice(count, min(count, round(PRODUCTS_WITHOUT_DIMENSIONS * scale)), replace=False)
    weight[no_dimensions] = -1
    popularity = rng.lognormal(0.0, 1.3, count)
    return Products(
        id=hex_ids(rng, count),
        category=category,
        name_length=np.clip(np.rint(rng.normal(48, 10, count)), 5, 76).astype(np.int64),
        description_length=_lognormal_ints(rng, 600, 0.7, 4, 3_992, count),
        photos=rng.choice(np.arange(1, 11), count, p=_shares([50, 20, 12, 7, 4, 3, 2, 1, 0.6, 0.4])),
        weight=weight,
        length=_lognormal_ints(rng, 25, 0.5, 7, 105, count),
        height=_lognormal_ints(rng, 13, 0.7, 2, 105, count),
        width=_lognormal_ints(rng, 20, 0.45, 6, 118, count),
        seller=rng.choice(len(sellers.id), count, p=sellers.popularity),
        price_cents=_lognormal_ints(rng, 7_500, 0.9, 85, 680_000, count),
        popularity=popularity / popularity.sum(),
    )


@dataclass
class Orders:
    """Timestamps are seconds since the epoch, -1 where NULL."""

    id: np.ndarray
    status: np.ndarray  # index into ORDER_STATUSES
    purchase: np.ndarray
    approved: np.ndarray
    carrier: np.ndarray
    delivered: np.ndarray
    estimated: np.ndarray

    def is_status(self, name: str) -> np.ndarray:
        return self.status == [s for s, _ in ORDER_STATUSES].index(name)

    @property
    def last_event(self) -> np.ndarray:
        """When the order last changed: its latest status timestamp (NULLs are -1)."""
        return np.maximum.reduce([self.purchase, self.approved, self.carrier, self.delivered])


def _gamma_seconds(rng: np.random.Generator, shape: float, mean_days: float, count: int) -> np.ndarray:
    return np.rint(rng.gamma(shape, mean_days * DAY / shape, count)).astype(np.int64)


def build_orders(rng: np.random.Generator, count: int) -> Orders:
    names = [s for s, _ in ORDER_STATUSES]
    status = rng.choice(len(names), count, p=_shares([c for _, c in ORDER_STATUSES]))
    month = rng.choice(len(MONTHLY_ORDERS), count, p=_shares(MONTHLY_ORDERS))
    starts = (MONTHS_FROM + np.arange(len(MONTHLY_ORDERS) + 1)).astype("datetime64[s]").astype(np.int64)
    purchase = starts[month] + (rng.random(count) * (starts[month + 1] - starts[month])).astype(np.int64)

    # Most payments clear within minutes, boletos take up to days.
    approval_lag = np.where(rng.random(count) < 0.6, rng.integers(0, 1_800, count), _gamma_seconds(rng, 1.0, 0.8, count))
    approved = purchase + approval_lag
    unapproved = (status == names.index("created")) | ((status == names.index("canceled")) & (rng.random(count) < 0.15))
    approved[unapproved] = -1

    handed_over = np.isin(status, [names.index("shipped"), names.index("delivered")])
    carrier = np.where(handed_over, approved + _gamma_seconds(rng, 2.0, 2.8, count), -1)
    is_delivered = status == names.index("delivered")
    delivered = np.where(is_delivered, carrier + 3_600 + _gamma_seconds(rng, 2.5, 8.7, count), -1)
    estimated = (purchase // DAY + rng.integers(10, 46, count)) * DAY
    return Orders(hex_ids(rng, count), status, purchase, approved, carrier, delivered, estimated)


@dataclass
class Items:
    """Rows are grouped by order, orders in table order; `first` marks each order's first row."""

    order: np.ndarray
    position: np.ndarray  # order_item_id - 1
    product: np.ndarray
    shipping_limit: np.ndarray
    price_cents: np.ndarray
    freight_cents: np.ndarray
    orders_with_items: np.ndarray
    per_order: np.ndarray


def build_items(rng: np.random.Generator, orders: Orders, products: Products) -> Items:
    # An unavailable order never got its product: no items, nothing charged.
    with_items = np.flatnonzero(~orders.is_status("unavailable"))
    sizes, weights = zip(*ITEMS_PER_ORDER)
    per_order = rng.choice(np.array(sizes), len(with_items), p=_shares(weights))
    order = np.repeat(with_items, per_order)
    position = _positions_in_groups(per_order)
    # Several units of one product are several items; otherwise every item is its own draw.
    first_product = rng.choice(len(products.id), len(with_items), p=products.popularity)
    same_product = np.repeat(rng.random(len(with_items)) < 0.6, per_order)
    own = rng.choice(len(products.id), len(order), p=products.popularity)
    product = np.where(same_product | (position == 0), np.repeat(first_product, per_order), own)

    base = np.where(orders.approved[order] >= 0, orders.approved[order], orders.purchase[order])
    shipping_limit = base + 6 * DAY + rng.integers(0, DAY, len(order))
    weight = np.maximum(products.weight[product], 0)
    freight = np.rint(600 + 0.25 * weight + rng.gamma(2.0, 450.0, len(order))).astype(np.int64)
    freight = np.minimum(freight, 40_000)
    freight[rng.random(len(order)) < 0.003] = 0  # free shipping happens
    return Items(order, position, product, shipping_limit, products.price_cents[product], freight, with_items, per_order)


@dataclass
class Payments:
    order: np.ndarray
    sequential: np.ndarray
    kind: np.ndarray  # index into payment_kinds
    installments: np.ndarray
    value_cents: np.ndarray
    kinds: tuple[str, ...]


def build_payments(rng: np.random.Generator, items: Items) -> Payments:
    starts = np.cumsum(items.per_order) - items.per_order
    totals = np.add.reduceat(items.price_cents + items.freight_cents, starts)
    count = len(items.orders_with_items)
    kinds = tuple(k for k, _ in PRIMARY_PAYMENTS)
    primary = rng.choice(len(kinds), count, p=_shares([w for _, w in PRIMARY_PAYMENTS]))
    vouchers = np.where(rng.random(count) < EXTRA_VOUCHER_RATE, rng.geometric(0.6, count), 0)
    # Vouchers cover part of the total; the primary payment (sequential 1) pays the rest.
    voucher_total = np.where(vouchers > 0, (totals * rng.uniform(0.05, 0.6, count)).astype(np.int64), 0)
    rows = 1 + vouchers
    position = _positions_in_groups(rows)
    order_row = np.repeat(np.arange(count), rows)
    n_vouchers = vouchers[order_row]
    share = voucher_total[order_row] // np.maximum(n_vouchers, 1)
    last_voucher = position == n_vouchers
    remainder = voucher_total[order_row] - share * np.maximum(n_vouchers, 1)
    value = np.where(position == 0, (totals - voucher_total)[order_row], share + np.where(last_voucher, remainder, 0))

    kind = np.where(position == 0, primary[order_row], kinds.index("voucher"))
    card_values, card_weights = zip(*CARD_INSTALLMENTS)
    card_installments = rng.choice(np.array(card_values), len(kind), p=_shares(card_weights))
    installments = np.where(kind == kinds.index("credit_card"), card_installments, 1)
    return Payments(items.orders_with_items[order_row], position + 1, kind, installments, value, kinds)


@dataclass
class Reviews:
    id: np.ndarray
    order: np.ndarray
    score: np.ndarray
    title: np.ndarray  # index into title texts, -1: none
    message: np.ndarray  # index into message texts, -1: none
    created: np.ndarray
    answered: np.ndarray
    titles: np.ndarray
    messages: np.ndarray


def _texts_for(rng: np.random.Generator, texts: dict[str, tuple[str, ...]], mood: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """An index into the flattened texts matching each review's mood, -1 for no text."""
    flat = [t for group in texts.values() for t in group]
    offset = np.cumsum([0] + [len(g) for g in texts.values()])[:-1]
    sizes = np.array([len(g) for g in texts.values()])
    index = offset[mood] + (rng.random(len(mood)) * sizes[mood]).astype(np.int64)
    return np.where(rng.random(len(mood)) < rate, index, -1), np.array(flat, dtype=object)


def build_reviews(rng: np.random.Generator, orders: Orders) -> Reviews:
    count = len(orders.id)
    first = np.flatnonzero(rng.random(count) < REVIEWED_ORDER_RATE)
    second = first[rng.random(len(first)) < SECOND_REVIEW_RATE]
    review_order = np.concatenate([first, second])
    total = len(review_order)
    scores, weights = zip(*REVIEW_SCORES)
    score = rng.choice(np.array(scores), total, p=_shares(weights))
    mood = np.select([score >= 4, score == 3], [0, 1], 2)  # good, fair, bad
    message, messages = _texts_for(rng, MESSAGES, mood, COMMENT_RATE)
    title, titles = _texts_for(rng, TITLES, mood, TITLE_RATE)

    # Surveys go out the day after delivery, or around the estimated date for the others.
    day_after = (orders.delivered // DAY + 1) * DAY
    around_estimate = orders.estimated + rng.integers(-5, 3, count) * DAY
    created = np.where(orders.delivered >= 0, day_after, np.maximum(around_estimate, (orders.purchase // DAY + 1) * DAY))[review_order]
    later = np.concatenate([np.zeros(len(first), np.int64), rng.integers(1, 21, len(second)) * DAY])
    created = created + later
    answered = created + 3_600 + _gamma_seconds(rng, 1.2, 2.5, total)
    ids = hex_ids(rng, total)

    # Some reviews cover two orders: the same review row again under another order.
    shared = np.flatnonzero(rng.random(len(first)) < SHARED_REVIEW_RATE) if count > 1 else np.array([], np.int64)
    other_order = (review_order[shared] + 1 + rng.integers(0, count - 1, len(shared))) % count if count > 1 else shared
    pick = np.concatenate([np.arange(total), shared])
    order_of_row = np.concatenate([review_order, other_order])
    return Reviews(ids[pick], order_of_row, score[pick], title[pick], message[pick], created[pick], answered[pick], titles, messages)


@dataclass
class Geolocation:
    place: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    accented: np.ndarray


def build_geolocation(rng: np.random.Generator, count: int, places: Places) -> Geolocation:
    distinct = max(1, math.ceil(count * (1 - GEOLOCATION_DUPLICATE_RATE)))
    # Every place gets a point first, so customers' and sellers' prefixes are all located.
    place = np.concatenate([np.arange(min(distinct, len(places.zip))), rng.integers(0, len(places.zip), max(0, distinct - len(places.zip)))])
    lat = places.lat[place] + rng.normal(0, 0.02, distinct)
    lng = places.lng[place] + rng.normal(0, 0.02, distinct)
    accented = rng.random(distinct) < 0.3
    # The real file repeats rows exactly and is ordered by zip prefix.
    rows = np.concatenate([np.arange(distinct), rng.integers(0, distinct, count - distinct)])
    rows = rows[np.lexsort((rows, places.zip_number[place[rows]]))]
    return Geolocation(place[rows], lat[rows], lng[rows], accented[rows])


# ---------------------------------------------------------------------------------------------
# From arrays to text, chunk by chunk.

Column = Callable[[slice], list]


def text_column(values: np.ndarray, index: np.ndarray | None = None) -> Column:
    """values[index] (or values) as text; a negative index is NULL."""

    def chunk(part: slice) -> list:
        if index is None:
            return values[part].tolist()
        idx = index[part]
        out = values[np.maximum(idx, 0)].astype(object)
        out[idx < 0] = None
        return out.tolist()

    return chunk


def int_column(values: np.ndarray, null: np.ndarray | None = None) -> Column:
    def chunk(part: slice) -> list:
        out = values[part].astype("U11").astype(object)
        if null is not None:
            out[null[part]] = None
        return out.tolist()

    return chunk


def cents_column(cents: np.ndarray) -> Column:
    def chunk(part: slice) -> list:
        c = cents[part]
        whole = (c // 100).astype("U12")
        return np.char.add(np.char.add(whole, "."), np.char.zfill((c % 100).astype("U2"), 2)).tolist()

    return chunk


def _timestamp_text(seconds: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype("U19")
    text.view("U1").reshape(-1, 19)[:, 10] = " "
    return text


def seconds_column(seconds: np.ndarray) -> Column:
    """'YYYY-MM-DD HH:MM:SS'; -1 is NULL."""

    def chunk(part: slice) -> list:
        s = seconds[part]
        out = _timestamp_text(s).astype(object)
        out[s < 0] = None
        return out.tolist()

    return chunk


def updated_at_column(seconds: np.ndarray) -> Column:
    """'YYYY-MM-DD HH:MM:SS.000000', the text form the extract's watermarks use."""
    return lambda part: np.char.add(_timestamp_text(seconds[part]), ".000000").tolist()


def history(rng: np.random.Generator, count: int) -> np.ndarray:
    """Registration times for rows that have no business timestamp of their own."""
    return rng.integers(HISTORY_FROM, HISTORY_UNTIL, count)


def float_column(values: np.ndarray) -> Column:
    def chunk(part: slice) -> list:
        return np.round(values[part], 8).astype("U24").tolist()

    return chunk


def serial_column(count: int) -> Column:
    return lambda part: np.arange(part.start + 1, min(part.stop, count) + 1).astype("U11").tolist()


@dataclass
class TableData:
    name: str
    rows: int
    columns: dict[str, Column]  # catalog column (and updated_at) -> text of a slice of rows

    @property
    def column_names(self) -> tuple[str, ...]:
        return get_table(self.name).staged_columns

    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[list[tuple[str | None, ...]]]:
        """Row tuples in `column_names` order, `size` rows at a time."""
        ordered = [self.columns[c] for c in self.column_names]
        for start in range(0, self.rows, size):
            part = slice(start, min(start + size, self.rows))
            yield list(zip(*(column(part) for column in ordered)))


def synthetic_tables(scale: float, seed: int) -> list[TableData]:
    """The nine tables of a synthetic Olist, in catalog order, ready to be written chunk by chunk."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    rng = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS)))))
    places = build_places(rng["places"], scale)
    n_orders = scaled(ORDERS, scale)
    customers = build_customers(rng["customers"], n_orders, places)
    sellers = build_sellers(rng["sellers"], scaled(SELLERS, scale), places)
    products = build_products(rng["products"], scaled(PRODUCTS, scale), scale, sellers)
    orders = build_orders(rng["orders"], n_orders)
    items = build_items(rng["items"], orders, products)
    payments = build_payments(rng["payments"], items)
    reviews = build_reviews(rng["reviews"], orders)
    geo = build_geolocation(rng["geolocation"], scaled(GEOLOCATION_ROWS, scale), places)
    registered = rng["history"]
    order_changed = orders.last_event

    state_codes = np.array([s.code for s in STATES])
    category_names = np.array([c[0] for c in CATEGORIES])
    no_category, no_dimensions = products.without_category, products.without_dimensions
    tables = {
        "customers": TableData("customers", n_orders, {
            "customer_id": text_column(customers.id),
            "customer_unique_id": text_column(customers.unique_id),
            "customer_zip_code_prefix": text_column(places.zip, customers.place),
            "customer_city": text_column(places.plain_city_names, places.city[customers.place]),
            "customer_state": text_column(state_codes, places.state[customers.place]),
            "updated_at": updated_at_column(orders.purchase),
        }),
        "geolocation": TableData("geolocation", len(geo.place), {
            "geolocation_id": serial_column(len(geo.place)),
            "geolocation_zip_code_prefix": text_column(places.zip, geo.place),
            "geolocation_lat": float_column(geo.lat),
            "geolocation_lng": float_column(geo.lng),
            "geolocation_city": text_column(
                np.concatenate([places.plain_city_names, places.city_names]),
                places.city[geo.place] + geo.accented * len(places.city_names),
            ),
            "geolocation_state": text_column(state_codes, places.state[geo.place]),
            "updated_at": updated_at_column(history(registered, len(geo.place))),
        }),
        "orders": TableData("orders", n_orders, {
            "order_id": text_column(orders.id),
            "customer_id": text_column(customers.id),  # order i belongs to customer i, as in Olist
            "order_status": text_column(np.array([s for s, _ in ORDER_STATUSES]), orders.status),
            "order_purchase_timestamp": seconds_column(orders.purchase),
            "order_approved_at": seconds_column(orders.approved),
            "order_delivered_carrier_date": seconds_column(orders.carrier),
            "order_delivered_customer_date": seconds_column(orders.delivered),
            "order_estimated_delivery_date": seconds_column(orders.estimated),
            "updated_at": updated_at_column(order_changed),
        }),
        "order_items": TableData("order_items", len(items.order), {
            "order_id": text_column(orders.id, items.order),
            "order_item_id": int_column(items.position + 1),
            "product_id": text_column(products.id, items.product),
            "seller_id": text_column(sellers.id, products.seller[items.product]),
            "shipping_limit_date": seconds_column(items.shipping_limit),
            "price": cents_column(items.price_cents),
            "freight_value": cents_column(items.freight_cents),
            "updated_at": updated_at_column(order_changed[items.order]),
        }),
        "order_payments": TableData("order_payments", len(payments.order), {
            "order_id": text_column(orders.id, payments.order),
            "payment_sequential": int_column(payments.sequential),
            "payment_type": text_column(np.array(payments.kinds), payments.kind),
            "payment_installments": int_column(payments.installments),
            "payment_value": cents_column(payments.value_cents),
            "updated_at": updated_at_column(np.maximum(orders.approved, orders.purchase)[payments.order]),
        }),
        "order_reviews": TableData("order_reviews", len(reviews.id), {
            "review_id": text_column(reviews.id),
            "order_id": text_column(orders.id, reviews.order),
            "review_score": int_column(reviews.score),
            "review_comment_title": text_column(reviews.titles, reviews.title),
            "review_comment_message": text_column(reviews.messages, reviews.message),
            "review_creation_date": seconds_column(reviews.created),
            "review_answer_timestamp": seconds_column(reviews.answered),
            "updated_at": updated_at_column(reviews.answered),
        }),
        "products": TableData("products", len(products.id), {
            "product_id": text_column(products.id),
            "product_category_name": text_column(category_names, products.category),
            "product_name_length": int_column(products.name_length, no_category),
            "product_description_length": int_column(products.description_length, no_category),
            "product_photos_qty": int_column(products.photos, no_category),
            "product_weight_g": int_column(products.weight, no_dimensions),
            "product_length_cm": int_column(products.length, no_dimensions),
            "product_height_cm": int_column(products.height, no_dimensions),
            "product_width_cm": int_column(products.width, no_dimensions),
            "updated_at": updated_at_column(history(registered, len(products.id))),
        }),
        "sellers": TableData("sellers", len(sellers.id), {
            "seller_id": text_column(sellers.id),
            "seller_zip_code_prefix": text_column(places.zip, sellers.place),
            "seller_city": text_column(places.plain_city_names, places.city[sellers.place]),
            "seller_state": text_column(state_codes, places.state[sellers.place]),
            "updated_at": updated_at_column(history(registered, len(sellers.id))),
        }),
        "product_category_name_translation": TableData("product_category_name_translation", len(CATEGORIES), {
            "product_category_name": text_column(category_names),
            "product_category_name_english": text_column(np.array([c[1] for c in CATEGORIES])),
            "updated_at": updated_at_column(history(registered, len(CATEGORIES))),
        }),
    }
    return [tables[t.name] for t in TABLES]


def seed_synthetic(engine: sa.Engine, scale: float, seed: int) -> SeedReport:
    """Fill the (empty) source tables with a synthetic Olist and the seed marker, in one transaction."""
    source_dialect(engine)
    started = time.perf_counter()
    tables = synthetic_tables(scale, seed)
    report = SeedReport(source=f"synthetic Olist (scale {scale:g}, seed {seed})")
    ensure_seed_marker_table(engine)
    with engine.begin() as conn:
        assert_tables_empty(conn, [t.name for t in TABLES])
        for table in tables:
            writer = open_table_writer(conn, table.name, table.column_names)
            try:
                for chunk in table.chunks():
                    writer.write(chunk)
            finally:
                report.rows[table.name] = writer.close()
        # Same transaction as the rows: simulate-changes trusts only a complete seed.
        write_seed_marker(conn, source="synthetic", scale=scale, seed=seed)
    report.seconds = time.perf_counter() - started
    return report
