"""The --record spec: schedules, group selection, probe sizes, and one-line errors for bad specs."""

import pytest

from recorders.spec import DEFAULT_GROUPS, RecordSpec, parse_spec


def test_defaults_and_every():
    s = parse_spec("")
    assert s.enabled and s.what == DEFAULT_GROUPS and s.every == 100
    s = parse_spec("every=50")
    assert s.record_steps(160) == [0, 50, 100, 150]


def test_log_schedule_is_dense_early_then_regular():
    s = parse_spec("every=log:500")
    assert s.record_steps(1600) == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 500, 1000, 1500]


def test_what_probe_and_off():
    s = parse_spec("what=head_scores,loss probe=4 probe_len=32 sample=8 seed=3")
    assert s.what == ("loss", "head_scores")  # canonical order
    assert (s.probe, s.probe_len, s.sample, s.seed) == (4, 32, 8, 3)
    assert parse_spec("every=10;what=optim").what == ("optim",)
    off = parse_spec("off")
    assert not off.enabled and not off.is_record_step(0)
    assert RecordSpec(every=3).is_record_step(9) and not RecordSpec(every=3).is_record_step(10)


@pytest.mark.parametrize(
    "bad, named",
    [("every=0", "every='0'"), ("every=log:x", "every='x'"), ("what=loss,nope", "nope"), ("size=3", "size=3"),
     ("every", "every"), ("probe=-1", "probe='-1'"), ("every=5 every=6", "twice"), ("seed=a", "seed='a'"),
     ("probe_len=3", "probe_len=3")],
)
def test_malformed_spec_is_one_line_listing_keys(bad, named):
    with pytest.raises(ValueError) as err:
        parse_spec(bad)
    msg = str(err.value)
    assert "\n" not in msg and named in msg
    for key in ("every=", "what=", "probe=", "probe_len=", "off"):
        assert key in msg
