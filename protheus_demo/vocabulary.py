"""Word lists, product families and machine kinds the demo plant is drawn from."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

Describe = Callable[[random.Random], str]

COLOURS = ("PRETO", "VERMELHO", "AZUL", "VERDE", "AMARELO", "BRANCO", "MARROM", "CINZA")
FASTENERS = (
    "PORCA SEXTAVADA M{} ZINCADA",
    "ARRUELA LISA M{}",
    "ARRUELA DE PRESSAO M{}",
    "PORCA AUTOTRAVANTE M{}",
    "ARRUELA DENTADA M{} INOX",
)
HARNESS_PLACES = (
    "PORTA DIANTEIRA",
    "PORTA TRASEIRA",
    "FAROL",
    "LANTERNA",
    "MOTOR",
    "SENSOR",
    "TETO",
    "ASSOALHO",
    "VENTILADOR",
    "PAINEL LATERAL",
    "ALIMENTACAO",
    "SINALIZACAO",
)
GAUGES = ("0,50", "0,75", "1,0", "1,5", "2,5", "4,0", "6,0", "10", "16")


def _model(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randint(100, 9999)}"


def _terminal_flag(rng: random.Random) -> str:
    # A few descriptions are abbreviated with punctuation, as typed by hand in real catalogs.
    return "TERM." if rng.random() < 0.06 else "TERMINAL"


def _terminal_bandeira(rng: random.Random) -> str:
    width = rng.choice(("2,80", "4,80", "6,30", "9,50"))
    thickness = rng.choice(("0,50", "0,80"))
    finish = rng.choice(("", " ESTANHADO", " LATAO", " FEMEA", " MACHO", " PRE-ISOLADO"))
    return f"{_terminal_flag(rng)} BANDEIRA {width}X{thickness}MM2{finish}"


def _terminal_olhal(rng: random.Random) -> str:
    stud = rng.choice((3, 4, 5, 6, 8, 10, 12))
    gauge = rng.choice(("0,5-1,5", "1,5-2,5", "4-6", "10", "16", "25"))
    insulation = rng.choice(("ISOLADO", "NAO ISOLADO", "PRE-ISOLADO", "ESTANHADO"))
    return f"{_terminal_flag(rng)} OLHAL M{stud} {gauge}MM2 {insulation}"


def _terminal_tubular(rng: random.Random) -> str:
    kind = rng.choice(("TUBULAR", "PINO", "GARFO", "AGULHA"))
    return f"{_terminal_flag(rng)} {kind} {rng.choice(GAUGES)}MM2 {rng.choice(COLOURS)}"


def _cabo_flexivel(rng: random.Random) -> str:
    voltage = rng.choice(("750V", "450/750V", "1KV", "")).strip()
    return f"CABO FLEXIVEL {rng.choice(GAUGES)}MM2 {rng.choice(COLOURS)} {voltage}".strip()


def _cabo_pp(rng: random.Random) -> str:
    kind = rng.choice(("CABO PP", "CABO BLINDADO", "CABO MULTIVIAS", "CABO PARALELO"))
    return f"{kind} {rng.randint(2, 12)}X{rng.choice(GAUGES)}MM2"


def _conector(rng: random.Random) -> str:
    gender = rng.choice(("FEMEA", "MACHO"))
    series = rng.choice(("", " SERIE 2,54", " MINI-FIT", " SELADO", " C/ TRAVA", " 90 GRAUS"))
    return f"CONECTOR {gender} {rng.randint(2, 24)} VIAS{series}"


def _parafuso(rng: random.Random) -> str:
    head = rng.choice(("SEXTAVADO", "ALLEN", "PHILIPS", "FENDA", "FLANGEADO"))
    size = rng.choice((3, 4, 5, 6, 8, 10, 12))
    length = rng.choice((6, 8, 10, 12, 16, 20, 25, 30, 40, 50, 60))
    finish = rng.choice(("ZINCADO", "INOX", "BICROMATIZADO", "POLIDO"))
    return f"PARAFUSO {head} M{size}X{length} {finish}"


def _porca_arruela(rng: random.Random) -> str:
    size = rng.choice((3, 4, 5, 6, 8, 10, 12, 16))
    return rng.choice(FASTENERS).format(size)


def _termocontratil(rng: random.Random) -> str:
    kind = rng.choice(("TUBO TERMOCONTRATIL", "ESPAGUETE ISOLANTE", "TUBO CORRUGADO"))
    return f"{kind} {rng.choice((2, 3, 5, 6, 8, 10, 12, 19, 25))}MM {rng.choice(COLOURS)}"


def _abracadeira(rng: random.Random) -> str:
    size = f"{rng.choice((100, 150, 200, 250, 300, 370))}X{rng.choice(('2,5', '3,6', '4,8'))}"
    return f"ABRACADEIRA NYLON {size}MM {rng.choice(('PRETA', 'NATURAL', 'BRANCA'))}"


def _fita(rng: random.Random) -> str:
    return rng.choice(
        (
            f"FITA ISOLANTE {rng.choice((10, 19))}MMX{rng.choice((5, 10, 20))}M {rng.choice(COLOURS)}",
            f"FITA ADESIVA DUPLA FACE {rng.choice((12, 19, 25))}MM",
            f"FITA TECIDO PARA CHICOTE {rng.choice((9, 19, 25))}MM",
        )
    )


def _chapa(rng: random.Random) -> str:
    thickness = rng.choice(("0,90", "1,20", "1,50", "2,00", "3,00", "4,75", "6,30"))
    return rng.choice(
        (
            f"CHAPA ACO CARBONO {thickness}MM {rng.choice(('1000X2000', '1200X3000', 'BOBINA'))}",
            f"CHAPA ACO INOX 304 {thickness}MM",
            f"PERFIL ALUMINIO {rng.choice(('U', 'L', 'T'))} {rng.randint(10, 80)}X{thickness}MM",
            f"BARRA CHATA ACO {rng.randint(10, 100)}X{thickness}MM",
        )
    )


def _granulado(rng: random.Random) -> str:
    resin = rng.choice(
        ("GRANULADO POLIPROPILENO", "RESINA ABS", "POLIAMIDA PA66", "MASTERBATCH", "PVC FLEXIVEL")
    )
    return f"{resin} {rng.choice(COLOURS)}"


def _conexao(rng: random.Random) -> str:
    # Accented descriptions: the catalog's search must match them typed without accents.
    return rng.choice(
        (
            f"CONEXÃO RÁPIDA {rng.choice((4, 6, 8, 10, 12))}MM",
            f"CONEXÃO T {rng.choice((4, 6, 8))}MM LATÃO",
            f"BORNE DE CONEXÃO {rng.randint(2, 12)} VIAS",
            f"LUVA DE EMENDA {rng.choice(GAUGES)}MM2",
            f"PRENSA-CABO PG{rng.choice((7, 9, 11, 13, 16, 21))} POLIAMIDA",
            f"ISOLAÇÃO PARA BORNE {rng.randint(2, 12)} VIAS",
        )
    )


def _eletronico(rng: random.Random) -> str:
    return rng.choice(
        (
            f"RESISTOR {rng.choice((10, 100, 220, 470, 1000, 4700))}R {rng.choice(('1/4', '1/2', '1'))}W",
            f"CAPACITOR ELETROLITICO {rng.choice((10, 47, 100, 470, 1000))}UF {rng.choice((16, 25, 50))}V",
            f"CAPACITOR CERÂMICO {rng.choice((10, 100, 220))}NF {rng.choice((50, 100))}V",
            f"DIODO 1N{rng.choice((4007, 4148, 5408))}",
            f"LED {rng.choice((3, 5))}MM {rng.choice(COLOURS)}",
            f"FUSIVEL {rng.choice((1, 2, 5, 10, 15, 20, 30))}A {rng.choice(('LAMINA', 'VIDRO', 'CARTUCHO'))}",
            f"RELE {rng.choice((12, 24))}VCC {rng.choice((10, 20, 30, 40))}A",
            f"MICROCONTROLADOR {rng.choice(('8 BITS', '16 BITS', '32 BITS'))} {_model(rng, 'MC')}",
        )
    )


def _embalagem(rng: random.Random) -> str:
    a, b, c = rng.randint(10, 80) * 10, rng.randint(10, 60) * 10, rng.randint(5, 40) * 10
    return rng.choice(
        (
            f"CAIXA PAPELAO {a}X{b}X{c}MM",
            f"SACO PLASTICO {a // 10}X{b // 10}CM",
            f"ETIQUETA ADESIVA {b // 10}X{c // 10}MM",
            f"CALCO DE PAPELAO {a}MM",
        )
    )


def _solenoide(rng: random.Random) -> str:
    # Rare family: its words select well under 0.5% of the catalog (search benchmarks).
    return rng.choice(
        (
            f"VALVULA SOLENOIDE {rng.choice((12, 24, 110, 220))}V {rng.choice(('2/2', '3/2', '5/2'))} VIAS",
            f"PRESSOSTATO {rng.choice(('1-10', '2-20', '0,5-6'))}BAR",
        )
    )


def _chicote(rng: random.Random) -> str:
    word = "CHICOTE ELÉTRICO" if rng.random() < 0.2 else "CHICOTE ELETRICO"
    part = rng.choice(HARNESS_PLACES)
    return f"{word} {part} {_model(rng, 'CE')}"


def _cabo_montado(rng: random.Random) -> str:
    return rng.choice(
        (
            f"CABO MONTADO {rng.choice(GAUGES)}MM2 {rng.randint(10, 300) * 10}MM {rng.choice(COLOURS)}",
            f"CABO CRIMPADO C/ TERMINAL {rng.choice(GAUGES)}MM2 {rng.randint(10, 200) * 10}MM",
            f"JUMPER {rng.choice(GAUGES)}MM2 {rng.randint(5, 80) * 10}MM",
        )
    )


def _modulo(rng: random.Random) -> str:
    word = rng.choice(
        ("MÓDULO ELETRÔNICO", "MODULO ELETRONICO", "PLACA MONTADA", "PLACA DE CONTROLE")
    )
    return f"{word} {rng.choice(('SENSOR', 'RELE', 'FONTE', 'DISPLAY', 'CAN', 'PWM'))} {_model(rng, 'ME')}"


def _injetado(rng: random.Random) -> str:
    word = rng.choice(("CARCAÇA INJETADA", "TAMPA INJETADA", "PEÇA INJETADA", "CAPA PROTETORA"))
    return f"{word} {_model(rng, 'IJ')} {rng.choice(COLOURS)}"


def _estampado(rng: random.Random) -> str:
    word = rng.choice(
        ("SUPORTE ESTAMPADO", "CHAPA CORTADA", "BRACKET FIXACAO", "CANTONEIRA DOBRADA")
    )
    return f"{word} {_model(rng, 'SE')}"


def _subconjunto(rng: random.Random) -> str:
    part = rng.choice(("FIXACAO", "CONECTORES", "CHICOTE", "CARCACA", "TAMPA", "BASE", "SUPORTE"))
    return f"SUBCONJUNTO {part} {_model(rng, 'SC')}"


def _chicote_painel(rng: random.Random) -> str:
    return f"CHICOTE ELETRICO PAINEL {_model(rng, 'CP')}"


def _painel(rng: random.Random) -> str:
    word = rng.choice(
        ("PAINEL ELÉTRICO", "PAINEL ELETRICO", "QUADRO DE COMANDO", "QUADRO DE DISTRIBUICAO")
    )
    return f"{word} {rng.choice(('IP54', 'IP65', 'SOBREPOR', 'EMBUTIR'))} {_model(rng, 'PE')}"


def _modulo_controle(rng: random.Random) -> str:
    word = "MÓDULO DE CONTROLE" if rng.random() < 0.4 else "MODULO DE CONTROLE"
    return (
        f"{word} {rng.choice(('MOTOR', 'ILUMINACAO', 'CLIMATIZACAO', 'BOMBA'))} {_model(rng, 'MC')}"
    )


def _extensao(rng: random.Random) -> str:
    word = "EXTENSÃO ELÉTRICA" if rng.random() < 0.5 else "EXTENSAO ELETRICA"
    return f"{word} {rng.choice((2, 3, 5, 10, 20))}M {rng.randint(2, 3)}X{rng.choice(GAUGES)}MM2"


def _conjunto(rng: random.Random) -> str:
    part = rng.choice(("SUPORTE MOTOR", "GABINETE", "CARENAGEM", "ESTRUTURA", "CHASSI", "TAMPA"))
    return f"CONJUNTO {part} {_model(rng, 'CJ')}"


@dataclass(frozen=True)
class Family:
    """A product family: its type, group (code prefix), share of the catalog and process."""

    key: str
    tipo: str
    group: int
    weight: float
    um: str
    describe: Describe
    # Raw-material families a parent of this family draws its components from.
    materials: tuple[str, ...] = ()
    # Machine kinds of its routing, in process order.
    process: tuple[str, ...] = ()


# Weights are percent of all products. Terminals add up to ~2.4%: "TERMINAL" matches
# dozens at default scale and thousands at large; the solenoid family stays under 0.5%.
FAMILIES: tuple[Family, ...] = (
    Family("TB", "MP", 1000, 1.0, "UN", _terminal_bandeira),
    Family("TO", "MP", 1010, 0.7, "UN", _terminal_olhal),
    Family("TT", "MP", 1020, 0.7, "UN", _terminal_tubular),
    Family("CF", "MP", 1030, 5.0, "M", _cabo_flexivel),
    Family("CP", "MP", 1040, 2.0, "M", _cabo_pp),
    Family("CN", "MP", 1050, 5.0, "UN", _conector),
    Family("PF", "MP", 1060, 6.0, "PC", _parafuso),
    Family("PO", "MP", 1070, 4.0, "PC", _porca_arruela),
    Family("TC", "MP", 1080, 2.5, "M", _termocontratil),
    Family("AB", "MP", 1090, 2.0, "PC", _abracadeira),
    Family("FI", "MP", 1100, 1.5, "RL", _fita),
    Family("CH", "MP", 1110, 3.5, "KG", _chapa),
    Family("GR", "MP", 1120, 2.5, "KG", _granulado),
    Family("CX", "MP", 1130, 2.0, "UN", _conexao),
    Family("EL", "MP", 1140, 6.0, "UN", _eletronico),
    Family("EM", "MP", 1150, 3.0, "UN", _embalagem),
    Family("VS", "MP", 1160, 0.25, "UN", _solenoide),
    Family(
        "CE",
        "PI",
        2000,
        9.0,
        "UN",
        _chicote,
        ("CF", "CP", "TB", "TO", "TT", "CN", "TC", "AB", "FI", "CX"),
        ("CORTE", "CRIMP", "MONT", "TESTE"),
    ),
    Family(
        "CM",
        "PI",
        2010,
        5.0,
        "UN",
        _cabo_montado,
        ("CF", "TB", "TO", "TT", "TC"),
        ("CORTE", "CRIMP", "TESTE"),
    ),
    Family(
        "ME",
        "PI",
        2020,
        4.0,
        "UN",
        _modulo,
        ("EL", "CN", "CX", "EM"),
        ("SOLDA", "MONT", "TESTE"),
    ),
    Family("IJ", "PI", 2030, 4.0, "PC", _injetado, ("GR",), ("INJET", "PINTU", "MONT")),
    Family(
        "SE",
        "PI",
        2040,
        3.0,
        "PC",
        _estampado,
        ("CH", "PF", "PO"),
        ("CORTE", "PRENS", "SOLDA", "PINTU"),
    ),
    Family(
        "SC",
        "PI",
        2050,
        3.0,
        "UN",
        _subconjunto,
        ("PF", "PO", "CN", "AB", "VS"),
        ("MONT", "TESTE"),
    ),
    Family(
        "PC",
        "PA",
        3000,
        6.0,
        "UN",
        _chicote_painel,
        ("CF", "TB", "CN", "TC", "AB", "FI", "EM"),
        ("MONT", "TESTE", "EMBAL"),
    ),
    Family(
        "PE",
        "PA",
        3010,
        4.0,
        "UN",
        _painel,
        ("CH", "PF", "PO", "CX", "CN", "EL", "EM", "VS"),
        ("PRENS", "MONT", "TESTE", "EMBAL"),
    ),
    Family(
        "MC",
        "PA",
        3020,
        4.0,
        "UN",
        _modulo_controle,
        ("EL", "CN", "CX", "PF", "EM"),
        ("SOLDA", "MONT", "TESTE", "EMBAL"),
    ),
    Family(
        "EX",
        "PA",
        3030,
        3.0,
        "UN",
        _extensao,
        ("CF", "CP", "CN", "TC", "EM"),
        ("CORTE", "CRIMP", "EXTRU", "MONT", "EMBAL"),
    ),
    Family(
        "CJ",
        "PA",
        3040,
        5.0,
        "CJ",
        _conjunto,
        ("CH", "PF", "PO", "GR", "EM"),
        ("PRENS", "SOLDA", "MONT", "PINTU", "EMBAL"),
    ),
)

FAMILY_BY_KEY: dict[str, Family] = {family.key: family for family in FAMILIES}

# Machine kinds: code prefix (codes are C6, so at most 5 letters + a digit), the
# machine's description, the routing operation's description and its work centre.
MACHINE_KINDS: tuple[tuple[str, str, str, str], ...] = (
    ("CORTE", "MAQUINA DE CORTE E DECAPAGEM", "CORTE E DECAPAGEM", "CTCORT"),
    ("CRIMP", "CRIMPADEIRA AUTOMATICA", "CRIMPAGEM DE TERMINAIS", "CTCRIM"),
    ("PRENS", "PRENSA EXCENTRICA", "ESTAMPAGEM", "CTPREN"),
    ("INJET", "INJETORA", "INJEÇÃO", "CTINJE"),
    ("SOLDA", "ESTACAO DE SOLDA", "SOLDAGEM", "CTSOLD"),
    ("MONT", "BANCADA DE MONTAGEM", "MONTAGEM", "CTMONT"),
    ("TESTE", "MESA DE TESTE ELETRICO", "TESTE ELÉTRICO", "CTTEST"),
    ("EMBAL", "LINHA DE EMBALAGEM", "EMBALAGEM", "CTEMBA"),
    ("PINTU", "CABINE DE PINTURA", "PINTURA", "CTPINT"),
    ("EXTRU", "EXTRUSORA", "EXTRUSÃO", "CTEXTR"),
)

LABOUR_TITLES: dict[str, str] = {
    "CORTE": "MAO DE OBRA CORTE",
    "CRIMP": "MAO DE OBRA CRIMPAGEM",
    "PRENS": "MAO DE OBRA PRENSAS",
    "INJET": "MAO DE OBRA INJECAO",
    "SOLDA": "MAO DE OBRA SOLDA",
    "MONT": "MÃO DE OBRA MONTAGEM",
    "TESTE": "MAO DE OBRA TESTES",
    "EMBAL": "MAO DE OBRA EMBALAGEM",
    "PINTU": "MAO DE OBRA PINTURA",
    "EXTRU": "MAO DE OBRA EXTRUSAO",
}

COMPANY_WORDS = (
    "METALURGICA",
    "COMERCIAL",
    "INDUSTRIA",
    "DISTRIBUIDORA",
    "AUTO PECAS",
    "ELETRICA",
    "CONSTRUTORA",
    "TRANSPORTES",
    "MONTADORA",
    "ELÉTRICA",
    "INDÚSTRIA E COMÉRCIO",
)
SUPPLIER_WORDS = (
    "FORNECEDORA",
    "COMERCIO DE METAIS",
    "CABOS E FIOS",
    "CONECTORES",
    "PLASTICOS",
    "FIXADORES",
    "ACOS",
    "COMPONENTES ELETRONICOS",
    "EMBALAGENS",
    "ATACADO ELÉTRICO",
)
NAME_WORDS = (
    "SAO JOSE",
    "PAULISTA",
    "BRASIL",
    "NORDESTE",
    "SANTA CRUZ",
    "ALVORADA",
    "PROGRESSO",
    "UNIAO",
    "HORIZONTE",
    "SÃO JOÃO",
    "VALE DO SUL",
    "ATLANTICO",
    "IPIRANGA",
    "PIONEIRA",
    "CAMPINEIRA",
    "GAUCHA",
    "MINEIRA",
    "CAPIXABA",
    "LITORAL",
    "TRES RIOS",
)
SURNAMES = (
    "SILVA",
    "SOUZA",
    "OLIVEIRA",
    "PEREIRA",
    "COSTA",
    "RODRIGUES",
    "ALMEIDA",
    "NASCIMENTO",
    "LIMA",
    "ARAÚJO",
    "FERREIRA",
    "CARVALHO",
    "GOMES",
    "MARTINS",
    "ROCHA",
    "RIBEIRO",
)
COMPANY_SUFFIXES = ("LTDA", "S.A.", "EIRELI", "LTDA EPP", "LTDA ME")
CITIES: tuple[tuple[str, str], ...] = (
    ("SP", "SAO PAULO"),
    ("SP", "CAMPINAS"),
    ("SP", "SAO BERNARDO DO CAMPO"),
    ("SP", "SOROCABA"),
    ("SP", "JUNDIAI"),
    ("RJ", "RIO DE JANEIRO"),
    ("MG", "BELO HORIZONTE"),
    ("MG", "BETIM"),
    ("PR", "CURITIBA"),
    ("PR", "SAO JOSE DOS PINHAIS"),
    ("SC", "JOINVILLE"),
    ("SC", "BLUMENAU"),
    ("RS", "PORTO ALEGRE"),
    ("RS", "CAXIAS DO SUL"),
    ("BA", "CAMACARI"),
    ("PE", "RECIFE"),
    ("GO", "ANAPOLIS"),
    ("AM", "MANAUS"),
    ("ES", "SERRA"),
    ("SP", "SANTO ANDRE"),
)

# Stop (unproductive time) reasons, CYN_CDSP/CYN_DSSP, as a plant keeps them for MATA682.
# Codes fit H6_MOTIVO (2 characters). The first five are the ones production orders' own
# stop appointments name.
STOP_REASONS: tuple[tuple[str, str], ...] = (
    ("01", "FALTA DE MATERIAL"),
    ("02", "MANUTENCAO CORRETIVA"),
    ("03", "SETUP/TROCA DE FERRAMENTA"),
    ("04", "FALTA DE OPERADOR"),
    ("05", "QUEBRA DE FERRAMENTA"),
    ("06", "AGUARDANDO QUALIDADE"),
    ("07", "MANUTENCAO PREVENTIVA"),
    ("08", "FALTA DE ENERGIA ELETRICA"),
    ("09", "AJUSTE DE PROCESSO"),
    ("10", "REUNIAO/TREINAMENTO"),
    ("11", "LIMPEZA E ORGANIZACAO (5S)"),
    ("12", "FALTA DE PROGRAMACAO"),
    ("99", "OUTROS"),
)
# Reasons branch 02 does not use (its CYN rows are the others).
BRANCH_02_UNUSED_REASONS = frozenset({"10", "11", "12"})
# Retired reasons: CYN rows deleted the Protheus way (a live list must not show them).
RETIRED_STOP_REASONS: tuple[tuple[str, str], ...] = (
    ("13", "SETUP PROLONGADO"),
    ("06", "AGUARDANDO INSPECAO"),  # renamed: the old row deleted, a new one entered
)
# The legacy list, SX5 table '44' (releases before CYN), with its own wording.
LEGACY_STOP_REASONS: tuple[tuple[str, str], ...] = (
    ("01", "FALTA DE MATERIA-PRIMA"),
    ("02", "QUEBRA DE MAQUINA"),
    ("03", "SETUP DE MAQUINA"),
    ("04", "FALTA DE OPERADOR"),
    ("05", "FERRAMENTA DANIFICADA"),
    ("06", "AGUARDANDO INSPECAO"),
    ("99", "OUTROS MOTIVOS"),
)
# Other SX5 tables beside '44' (a stop reason read must filter X5_TABELA): '00' lists the
# tables themselves, '02' is the product types.
OTHER_SX5_ROWS: tuple[tuple[str, str, str], ...] = (
    ("00", "02", "TIPOS DE PRODUTO"),
    ("00", "44", "MOTIVOS DE PARADA"),
    ("02", "MP", "MATERIA-PRIMA"),
    ("02", "PA", "PRODUTO ACABADO"),
    ("02", "PI", "PRODUTO INTERMEDIARIO"),
)
# Notes an operator types on a stop appointment (H6_OBSERVA), by reason.
STOP_NOTES: dict[str, tuple[str, ...]] = {
    "01": ("AGUARDANDO ABASTECIMENTO DO ALMOXARIFADO", "BOBINA NAO LIBERADA"),
    "02": ("AGUARDANDO MECANICO", "VAZAMENTO HIDRAULICO", "TROCA DE CORREIA"),
    "03": ("TROCA DE MATRIZ", "SETUP DE NOVO LOTE"),
    "05": ("FERRAMENTA ENVIADA PARA AFIACAO",),
    "06": ("PRIMEIRA PECA EM INSPECAO",),
    "08": ("QUEDA DE ENERGIA NA REDE",),
}
