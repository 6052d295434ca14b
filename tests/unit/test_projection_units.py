"""The units projection workers claim: a region's dibao and tekun partitions are one unit,
since a dibao standard re-prices both; every other partition is a unit of its own."""

from __future__ import annotations

from domain.cases.programmes import Programme
from projections.engine.partitions import Partition
from projections.engine.workers import unit_of
from projections.storage.claims import lock_key


def test_a_regions_dibao_and_tekun_partitions_are_one_unit() -> None:
    units = {
        unit_of(Partition(programme.value, "410611"))
        for programme in (Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.TEKUN)
    }
    assert units == {"dibao-tekun/410611"}
    assert unit_of(Partition(Programme.TEKUN.value, "410602")) == "dibao-tekun/410602"


def test_every_other_partition_is_a_unit_named_after_it() -> None:
    for programme in Programme:
        if programme not in (Programme.DIBAO_URBAN, Programme.DIBAO_RURAL, Programme.TEKUN):
            partition = Partition(programme.value, "410621")
            assert unit_of(partition) == partition.name
    assert unit_of(Partition("household-verification", "a")) == "household-verification/a"


def test_lock_keys_are_the_same_in_every_process_and_fit_an_advisory_lock() -> None:
    keys = {lock_key(f"elderly-allowance/4106{n:02}") for n in range(100)}
    assert len(keys) == 100
    assert all(0 <= key < 2**31 for key in keys)
    # Workers of different versions, on different hosts, must agree on a unit's key: it is
    # CRC-32 (zlib's), never Python's hash, which changes with every process.
    assert lock_key("dibao-tekun/410611") == 1603835365
