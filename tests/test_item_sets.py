"""Item sets: the bundled sets load, a user's CSV is accepted, and every bad CSV gets a one-line error."""

import numpy as np
import pytest

from recorders.psychometrics import ItemSetError, bundled_item_sets, load_item_set, read_item_set
from seedling.data.constructs import planted_items


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = "item,text,construct,key\na1,I am calm,calm,1\na2,I worry,calm,-1\nb1,I talk,talk,+1\nb2,I am quiet,talk,-1\n"


def test_bundled_sets_load_with_definitions():
    sets = bundled_item_sets()
    assert {"ipip50", "planted"} <= set(sets)
    ipip = load_item_set("ipip50")
    assert ipip.n_items == 50 and len(ipip.construct_names) == 5
    assert all(ipip.constructs.count(c) == 10 for c in ipip.construct_names)
    assert ipip.definitions is not None and len(ipip.definitions) == 5
    assert ipip.option_labels[0] == "very_inaccurate" and ipip.option_scores.tolist() == [1, 2, 3, 4, 5]
    # The IPIP 50 markers' keying: E 5/5, A 6/4, C 6/4, emotional stability 2/8, intellect 7/3.
    plus = {c: int((ipip.keys[np.array(ipip.constructs) == c] > 0).sum()) for c in ipip.construct_names}
    assert plus == {"extraversion": 5, "agreeableness": 6, "conscientiousness": 6, "emotional_stability": 2, "intellect": 7}


def test_planted_file_is_the_generator_output():
    s = load_item_set("planted")
    rows = planted_items()
    assert list(s.ids) == [r["item"] for r in rows] and list(s.texts) == [r["text"] for r in rows]
    assert s.keys.tolist() == [r["key"] for r in rows] and list(s.constructs) == [r["construct"] for r in rows]


def test_user_csv_with_definitions_and_correlations(tmp_path):
    items = write(tmp_path, "my.csv", GOOD)
    defs = write(tmp_path, "d.csv", "construct,definition\ntalk,Talks a lot\ncalm,Is calm\n")
    corr = write(tmp_path, "r.csv", "item,b1,a1,a2,b2\na1,.1,1,-.5,0\na2,0,-.5,1,.2\nb1,1,.1,0,-.4\nb2,-.4,0,.2,1\n")
    s = read_item_set(items, defs, corr)
    assert s.ids == ("a1", "a2", "b1", "b2") and s.construct_names == ("calm", "talk")
    assert s.definitions == ("Is calm", "Talks a lot")
    assert s.correlations[0, 1] == -0.5 and s.correlations[0, 2] == 0.1  # reordered to the items' order
    assert s.target().tolist() == [[1, 0], [-1, 0], [0, 1], [0, -1]]


@pytest.mark.parametrize("text,message", [
    ("item,text,key\na,x,1\n", "missing column(s) construct"),
    ("item,text,construct,key\n", "no rows"),
    (GOOD.replace("calm,-1", "calm,2"), "row 3 has key '2'; accepted: 1, +1 or -1"),
    (GOOD.replace("I talk", ""), "row 4 has an empty 'text'"),
    (GOOD.replace("b1,", "a1,"), "row 4 has item id 'a1', already used in row 2"),
    ("text,construct,key\nx,a,1\ny,a,1\n", "one construct"),
    (GOOD + "c1,Lonely,odd,1\n", "construct(s) odd have one item"),
    ('item,text,construct,key\n"a,1\n', "not a readable UTF-8 CSV"),
])
def test_bad_items_csv_one_line_error(tmp_path, text, message):
    with pytest.raises(ItemSetError) as e:
        read_item_set(write(tmp_path, "bad.csv", text))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("opts,message", [
    ("option,text\na,x\n", "missing column(s) score"),
    ("option,text,score\na,x,1\n", "1 option; the log-probability probe needs at least 2"),
    ("option,text,score\na,x,1\na,y,2\n", "row 3 has option 'a'"),
    ("option,text,score\na,x,1\nb,y,high\n", "row 3 has score 'high'; accepted: a finite number"),
])
def test_bad_options_one_line_error(tmp_path, opts, message):
    with pytest.raises(ItemSetError) as e:
        read_item_set(write(tmp_path, "items.csv", GOOD), options=write(tmp_path, "o.csv", opts))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("defs,corr,message", [
    ("construct,definition\ncalm,x\n", None, "no definition for construct(s) talk"),
    ("construct,definition\ncalm,x\ntalk,y\nodd,z\n", None, "row 4 defines construct 'odd'"),
    (None, "item,a1,a2,b1\na1,1,0,0\na2,0,1,0\nb1,0,0,1\n", "mismatched: b2"),
    (None, "item,a1,a2,b1,b2\na1,1,.3,0,0\na2,0,1,0,0\nb1,0,0,1,0\nb2,0,0,0,1\n", "not symmetric"),
    (None, "item,a1,a2,b1,b2\na1,1,x,0,0\na2,x,1,0,0\nb1,0,0,1,0\nb2,0,0,0,1\n", "accepted: a finite number"),
    (None, "item,a1,a2,b1,b2\na1,2,0,0,0\na2,0,1,0,0\nb1,0,0,1,0\nb2,0,0,0,1\n", "1 on the diagonal"),
])
def test_bad_side_files_one_line_error(tmp_path, defs, corr, message):
    items = write(tmp_path, "items.csv", GOOD)
    d = write(tmp_path, "d.csv", defs) if defs else None
    r = write(tmp_path, "r.csv", corr) if corr else None
    with pytest.raises(ItemSetError) as e:
        read_item_set(items, d, r)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_load_item_set_names_the_accepted_sets(tmp_path):
    with pytest.raises(ItemSetError, match="neither a bundled set .*ipip50.*planted"):
        load_item_set(tmp_path / "nope.csv")
    write(tmp_path, "mine.csv", GOOD)
    write(tmp_path, "mine_definitions.csv", "construct,definition\ncalm,c\ntalk,t\n")
    assert load_item_set(tmp_path / "mine.csv").definitions == ("c", "t")  # the side file is found
