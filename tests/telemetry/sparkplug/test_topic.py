"""Sparkplug topics: node and device messages, host STATE, and the reasons bad ones get."""

from __future__ import annotations

import pytest

from services.telemetry.sparkplug.topic import Topic, TopicError, is_sparkplug, parse_topic


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spBv1.0/Plant1/NBIRTH/GW1", Topic("Plant1", "NBIRTH", "GW1")),
        ("spBv1.0/Plant1/NDATA/GW1", Topic("Plant1", "NDATA", "GW1")),
        ("spBv1.0/Plant1/NDEATH/GW1", Topic("Plant1", "NDEATH", "GW1")),
        ("spBv1.0/Plant1/DBIRTH/GW1/Press 1", Topic("Plant1", "DBIRTH", "GW1", "Press 1")),
        ("spBv1.0/Plant1/DDATA/GW1/P1", Topic("Plant1", "DDATA", "GW1", "P1")),
        ("spBv1.0/Plant1/DDEATH/GW1/P1", Topic("Plant1", "DDEATH", "GW1", "P1")),
        ("spBv1.0/Plant1/NCMD/GW1", Topic("Plant1", "NCMD", "GW1")),
        ("spBv1.0/Plant1/DCMD/GW1/P1", Topic("Plant1", "DCMD", "GW1", "P1")),
        ("spBv1.0/STATE/mes", Topic("", "STATE", "mes")),
    ],
)
def test_sparkplug_topics_parse_into_group_type_node_and_device(text, expected):
    assert parse_topic(text) == expected
    assert is_sparkplug(text)


def test_commands_and_host_state_are_ignored_and_data_is_not():
    assert parse_topic("spBv1.0/G/NCMD/N").ignored
    assert parse_topic("spBv1.0/G/DCMD/N/D").ignored
    assert parse_topic("spBv1.0/STATE/other-host").ignored
    assert not parse_topic("spBv1.0/G/DDATA/N/D").ignored
    assert parse_topic("spBv1.0/G/DDATA/N/D").key == ("G", "N")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("spBv1.0/G/NDATA", "tópico fora do padrão"),
        ("spBv1.0/G", "tópico fora do padrão"),
        ("spBv1.0/G/DDATA/N/D/extra", "tópico fora do padrão"),
        ("spBv1.0/G/NBIRTH/N/D", "mensagem NBIRTH de edge node com dispositivo no tópico"),
        ("spBv1.0/G/DDATA/N", "mensagem DDATA sem o dispositivo no tópico"),
        ("spBv1.0/G/XDATA/N", "tipo de mensagem Sparkplug 'XDATA' desconhecido"),
        ("spBv1.0//NDATA/N", "segmento vazio"),
        ("spBv1.0/G/DDATA/N/", "segmento vazio"),
        ("spBv1.0/G/DDATA/N/a\x01b", "caracteres de controle"),
        ("spBv1.0/STATE/h/x", "tipo de mensagem Sparkplug .h. desconhecido"),
    ],
)
def test_a_bad_topic_says_why_in_portuguese(text, reason):
    with pytest.raises(TopicError, match=reason):
        parse_topic(text)


def test_only_the_sparkplug_namespace_is_sparkplug():
    assert not is_sparkplug("mes/v1/a/b/c/d/telemetry")
    assert not is_sparkplug("spBv1.0")
    assert not is_sparkplug("spAv1.0/G/NDATA/N")
