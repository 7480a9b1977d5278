"""Building JSON Patch ops: pointers, reads, copy-on-write of the containers on the way, appends."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.patches import PatchBuilder, RecordedAdds, apply_recorded, json_pointer


def test_json_pointer_escapes_every_part() -> None:
    assert json_pointer(("metadata", "annotations", "a/b~c", 0)) == "/metadata/annotations/a~1b~0c/0"


def test_get_does_not_follow_a_string_into_a_list_or_an_index_past_its_end() -> None:
    builder = PatchBuilder({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}})
    assert builder.get(("spec", "tolerations", 1, "key")) == "b"
    assert builder.get(("spec", "tolerations", 2)) is None
    assert builder.get(("spec", "tolerations", -1)) is None
    assert builder.get(("spec", "tolerations", "key")) is None


def test_put_into_a_pod_without_metadata_creates_it_in_one_op() -> None:
    original: dict[str, Any] = {"spec": {}}
    builder = PatchBuilder(original)
    builder.put(("metadata", "annotations"), "k", "v")
    assert builder.result == {"spec": {}, "metadata": {"annotations": {"k": "v"}}}
    assert builder.ops == [{"op": "add", "path": "/metadata", "value": {"annotations": {"k": "v"}}}]
    assert original == {"spec": {}}


def test_put_under_an_affinity_that_is_a_list_replaces_it_with_an_object() -> None:
    original: dict[str, Any] = {"spec": {"affinity": []}}
    builder = PatchBuilder(original)
    builder.put(("spec", "affinity", "nodeAffinity"), "k", "v")
    assert builder.result == {"spec": {"affinity": {"nodeAffinity": {"k": "v"}}}}
    assert builder.ops == [{"op": "add", "path": "/spec/affinity", "value": {"nodeAffinity": {"k": "v"}}}]
    assert original == {"spec": {"affinity": []}}


def test_put_through_an_index_past_the_end_of_a_list_leaves_the_original_alone() -> None:
    original: dict[str, Any] = {"a": [{"x": 1}]}
    builder = PatchBuilder(original)
    builder.put(("a", 1), "k", "v")
    assert original == {"a": [{"x": 1}]}
    assert len(builder.ops) == 1


def test_containers_on_the_way_are_copied_once() -> None:
    original: dict[str, Any] = {"spec": {"nodeSelector": {"old": "1"}}}
    builder = PatchBuilder(original)
    builder.put(("spec", "nodeSelector"), "a", "1")
    spec, selector = builder.result["spec"], builder.result["spec"]["nodeSelector"]
    builder.put(("spec", "nodeSelector"), "b", "2")
    assert builder.result["spec"] is spec
    assert builder.result["spec"]["nodeSelector"] is selector
    assert selector == {"old": "1", "a": "1", "b": "2"}
    assert original == {"spec": {"nodeSelector": {"old": "1"}}}


def test_appending_twice_to_a_list_an_op_creates_extends_that_op() -> None:
    builder = PatchBuilder({"spec": {}})
    builder.append(("spec", "tolerations"), [{"key": "a"}])
    builder.append(("spec", "tolerations"), [{"key": "b"}])
    assert builder.ops == [{"op": "add", "path": "/spec/tolerations", "value": [{"key": "a"}, {"key": "b"}]}]


def test_appending_to_an_existing_list_adds_one_op_per_item() -> None:
    builder = PatchBuilder({"spec": {"tolerations": [{"key": "x"}]}})
    builder.append(("spec", "tolerations"), [{"key": "a"}, {"key": "b"}])
    assert builder.ops == [
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "a"}},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "b"}},
    ]


def test_a_nested_value_is_copied_whole_and_later_writes_into_it_go_into_its_op() -> None:
    value = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}
    builder = PatchBuilder({"spec": {}})
    builder.put(("spec", "affinity"), "nodeAffinity", value)
    term = builder.result["spec"]["affinity"]["nodeAffinity"]["nodeSelectorTerms"][0]
    assert term == value["nodeSelectorTerms"][0] and term is not value["nodeSelectorTerms"][0]
    builder.append(
        ("spec", "affinity", "nodeAffinity", "nodeSelectorTerms", 0, "matchExpressions"), [{"key": "b"}]
    )
    builder.put(("spec", "affinity", "nodeAffinity", "nodeSelectorTerms", 0), "matchFields", [])
    expected = {
        "nodeAffinity": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "a", "operator": "Exists"}, {"key": "b"}], "matchFields": []}
            ]
        }
    }
    assert builder.ops == [{"op": "add", "path": "/spec/affinity", "value": expected}]
    assert builder.result == {"spec": {"affinity": expected}}
    assert value == {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}


def test_items_appended_are_fresh_copies_later_writes_into_them_need_no_op() -> None:
    item = {"key": "a", "nested": {"x": 1}}
    builder = PatchBuilder({"spec": {"tolerations": []}})
    builder.append(("spec", "tolerations"), [item])
    builder.put(("spec", "tolerations", 0, "nested"), "y", 2)
    added = {"key": "a", "nested": {"x": 1, "y": 2}}
    assert builder.ops == [{"op": "add", "path": "/spec/tolerations/-", "value": added}]
    assert builder.result["spec"]["tolerations"] == [added]
    assert item == {"key": "a", "nested": {"x": 1}}


def test_recorded_adds_decode_escaped_keys_and_replay_on_another_pod() -> None:
    builder = PatchBuilder({"metadata": {"annotations": {}}, "spec": {"tolerations": [{"key": "t"}]}})
    builder.put(("metadata", "annotations"), "x~y/z", "v")
    builder.append(("spec", "tolerations"), [{"key": "a"}])
    recorded = RecordedAdds.of(builder.ops, builder.result)
    assert recorded.steps == (
        ("/metadata/annotations/x~0y~1z", ("metadata", "annotations"), "x~y/z"),
        ("/spec/tolerations/-", ("spec", "tolerations"), None),
    )
    ops = recorded.ops()
    assert ops == builder.ops
    other = {"metadata": {"annotations": {"o": "1"}}, "spec": {"tolerations": []}}
    assert apply_recorded(other, recorded, ops) == {
        "metadata": {"annotations": {"o": "1", "x~y/z": "v"}},
        "spec": {"tolerations": [{"key": "a"}]},
    }
    assert other == {"metadata": {"annotations": {"o": "1"}}, "spec": {"tolerations": []}}


def test_only_appends_to_lists_are_recorded() -> None:
    ops = [{"op": "add", "path": "/spec/tolerations/0", "value": {"key": "a"}}]
    with pytest.raises(ValueError) as refused:
        RecordedAdds.of(ops, {"spec": {"tolerations": [{"key": "a"}]}})
    assert str(refused.value) == "/spec/tolerations/0: only appends to lists are replayed"


def test_a_record_whose_steps_and_values_disagree_is_refused() -> None:
    step = ("/spec/a", ("spec",), "a")
    recorded = RecordedAdds(steps=(step, ("/spec/b", ("spec",), "b")), values=b"[1]")
    with pytest.raises(ValueError, match="zip"):
        recorded.ops()
    with pytest.raises(ValueError, match="zip"):
        apply_recorded({"spec": {}}, recorded, [{"op": "add", "path": "/spec/a", "value": 1}])


def test_a_recorded_add_through_a_list_index_replays_into_that_item() -> None:
    terms = [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]
    pod = {"spec": {"affinity": {"nodeAffinity": {"nodeSelectorTerms": terms}}}}
    builder = PatchBuilder(pod)
    where = ("spec", "affinity", "nodeAffinity", "nodeSelectorTerms", 0, "matchExpressions")
    builder.append(where, [{"key": "b", "operator": "Exists"}])
    recorded = RecordedAdds.of(builder.ops, builder.result)
    assert recorded.steps == (
        ("/spec/affinity/nodeAffinity/nodeSelectorTerms/0/matchExpressions/-", where, None),
    )
    other_terms = [{"matchExpressions": [{"key": "z", "operator": "Exists"}]}]
    other = {"spec": {"affinity": {"nodeAffinity": {"nodeSelectorTerms": other_terms}}}}
    replayed = apply_recorded(other, recorded, recorded.ops())
    assert replayed["spec"]["affinity"]["nodeAffinity"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "z", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}
    ]
    assert other_terms == [{"matchExpressions": [{"key": "z", "operator": "Exists"}]}]
