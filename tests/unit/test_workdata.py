# SPDX-License-Identifier: LGPL-2.1-or-later
"""work->data decoding, with the bit layouts recorded from real kernels."""

import msgspec

from wqinspect.snapshot.layout import Layout, decode_flags, decode_work_data


def layout_of(snap) -> Layout:
    return snap.kernel.features


def test_every_queued_item_decodes_to_its_pwq(scenarios_snap):
    """Items on worklists, inactive and scheduled lists point (data & mask) to the pwq they are on."""
    lay = layout_of(scenarios_snap)
    pwqs = {p.address for wq in scenarios_snap.workqueues for p in wq.pwqs}
    queued = [w for w in scenarios_snap.works if w.where in ("worklist", "inactive", "scheduled")]
    assert queued
    for w in queued:
        d = decode_work_data(lay, w.data)
        assert d.queued and d.pending
        assert d.pwq == w.pwq and d.pwq in pwqs
        assert d.color == w.color
        assert d.inactive == (w.where == "inactive" or w.is_barrier)


def test_color_bits_do_not_leak_into_the_pwq_pointer(scenarios_snap):
    """The pwq mask is computed from the pwq shift; on 6.9+ FLAG_BITS (4) would keep color bits."""
    lay = layout_of(scenarios_snap)
    pwq = 0xffff888812345600
    assert pwq & ((1 << lay.work_pwq_shift) - 1) == 0
    data = pwq | 0xf << lay.work_color_shift | 1 << lay.work_pwq_bit | 1 << lay.work_pending_bit
    d = decode_work_data(lay, data)
    assert d.pwq == pwq and d.color == 0xf and d.queued


def test_offqueue_pool_id(scenarios_snap):
    lay = layout_of(scenarios_snap)
    d = decode_work_data(lay, 7 << lay.work_offq_pool_shift)
    assert not d.queued and d.pool_id == 7 and d.color is None and d.pwq == 0
    none = decode_work_data(lay, ((1 << lay.work_offq_pool_bits) - 1) << lay.work_offq_pool_shift)
    assert none.pool_id is None


def test_offqueue_flags_by_kernel(suite, scenarios_snap):
    """Bit 4 off queue means CANCELING up to v6.9 and BH from v6.10; 6.10+ also counts disables."""
    lay = layout_of(scenarios_snap)
    d = decode_work_data(lay, 1 << 4)
    if suite == "bookworm":
        assert d.offq_flags == ("CANCELING",) and d.disable_depth is None
        assert lay.work_offq_pool_shift == 5
    else:
        assert d.offq_flags == ("BH",)
        shift, bits = lay.work_offq_disable
        assert decode_work_data(lay, 3 << shift).disable_depth == 3
        assert lay.work_offq_pool_shift == shift + bits


def test_delayed_items_are_pending_and_off_queue(scenarios_snap):
    lay = layout_of(scenarios_snap)
    delayed = [w for w in scenarios_snap.works if w.where == "delayed"]
    assert delayed
    for w in delayed:
        d = decode_work_data(lay, w.data)
        assert d.pending and not d.queued


def test_flag_names_come_from_the_kernel(suite, scenarios_snap):
    lay = layout_of(scenarios_snap)
    names = dict(lay.pool_flags)
    # POOL_BH (v6.9) took bit 0, moving POOL_MANAGER_ACTIVE to bit 1.
    assert names["POOL_MANAGER_ACTIVE"] == (1 if suite == "bookworm" else 2)
    assert ("POOL_BH" in names) == (suite != "bookworm")
    wq_names = [n for n, _ in lay.wq_flags]
    assert "WQ_MAX_ACTIVE" not in wq_names and "WQ_DFL_ACTIVE" not in wq_names
    assert decode_flags(names["POOL_DISASSOCIATED"] | 1 << 20, lay.pool_flags) == ["POOL_DISASSOCIATED", "0x100000"]


def test_layout_round_trips_through_json(scenarios_snap):
    lay = layout_of(scenarios_snap)
    again = msgspec.json.decode(msgspec.json.encode(lay), type=Layout)
    assert again == lay and isinstance(again.wq_flags, tuple)
