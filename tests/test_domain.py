"""The domain's grammar and operators give exactly the points they document, draws included."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from snakesweep.core.domain import Domain
from snakesweep.core.domain_tree import DomainError
from snakesweep.core.draws import repeat_seeds

# -- golden points of every operator ---------------------------------------------------------


def test_a_mapping_is_the_product_over_its_keys_last_fastest() -> None:
    assert list(Domain({"a": [1, 2], "b": "x,y"})) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


@pytest.mark.parametrize(
    "values, expected",
    [
        ("range(0,5)", [0, 1, 2, 3, 4]),
        ("1,2,3", [1, 2, 3]),
        ("choice(a,b)", ["a", "b"]),
        ("sort(3,1,2)", [1, 2, 3]),
        ("'a b','c,d'", ["a b", "c,d"]),
        (
            ["it's", "$(ls)", "{x}", "../up", 1.5, None, True],
            ["it's", "$(ls)", "{x}", "../up", 1.5, None, True],
        ),
        ([[1, 2], {"k": "v"}], [[1, 2], {"k": "v"}]),
        (7, [7]),
    ],
)
def test_values_are_a_yaml_list_or_hydras_sweep_grammar(
    values: object, expected: list[object]
) -> None:
    assert [p["k"] for p in Domain({"k": values})] == expected


NON_ASCII = ["café", "日本", "naïve x", "🙂", "x"]


def test_non_ascii_words_in_a_yaml_list_are_quoted_for_hydra_and_stored_without_quotes() -> None:
    """ "café" is a Unicode identifier, yet Hydra's grammar takes it only in quotes; the value
    is the text itself, as the same values given quoted on the command line are."""
    from snakesweep.core.grid import expand_domain

    expansion = Domain({"s": NON_ASCII}).expand()
    assert [p.values["s"] for p in expansion.points] == NON_ASCII
    assert [p.params["s"] for p in expansion.points] == NON_ASCII
    assert [p.overrides for p in expansion.points] == [
        ("s='café'",),
        ("s='日本'",),
        ("s='naïve x'",),
        ("s='🙂'",),
        ("s=x",),
    ]
    command_line = expand_domain(["s='café','日本','naïve x','🙂',x"])
    assert [p.overrides for p in command_line.points()] == [p.overrides for p in expansion.points]


@pytest.mark.parametrize(
    "source, advice, values",
    [
        ("café,naïve x,3", """s: "'café','naïve x',3\"""", ["café", "naïve x", 3]),
        ("café,naïve x,3", "s: [café, naïve x, 3]", ["café", "naïve x", 3]),
    ],
)
def test_advice_for_non_ascii_in_hydras_grammar_is_advice_that_works(
    source: str, advice: str, values: list[object]
) -> None:
    """An unquoted non-ASCII word in a value of Hydra's grammar is refused with advice; the
    domain written as the advice says has the values, without quotes."""
    with pytest.raises(DomainError) as caught:
        Domain({"s": source}).expand()
    assert f"({advice})" in str(caught.value), str(caught.value)
    assert [p["s"] for p in Domain.from_yaml(yaml.safe_load(advice))] == values


def test_advice_for_non_ascii_in_a_hydra_function_points_to_a_yaml_list() -> None:
    with pytest.raises(DomainError, match="or list the values in YAML, which needs no quotes"):
        Domain({"s": "choice(café,x)"}).expand()


def test_advice_on_the_command_line_is_the_override_that_works() -> None:
    """``name=größe`` → ``name='größe'``; a non-ASCII mapping key cannot be written at all."""
    from snakesweep.core.grid import expand_domain, parse_override
    from snakesweep.errors import OverrideError

    with pytest.raises(OverrideError) as caught:
        parse_override("s=café,naïve x")
    advice = str(caught.value).rsplit("quoted values: ", 1)[1]
    assert advice == "s='café','naïve x'"
    assert [p.params["s"] for p in expand_domain([advice]).points()] == ["café", "naïve x"]
    with pytest.raises(DomainError, match="no non-ASCII text in a mapping's keys: rename 'clé'"):
        Domain({"s": [{"clé": 1}]}).expand()


def test_batchflow_zip_of_two_lists_is_two_points() -> None:
    d = Domain({"a": [1, 2]}) @ Domain({"b": [3, 4]})
    assert list(d) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    assert list(Domain.from_yaml({"zip": {"a": [1, 2], "b": [3, 4]}})) == list(d)


def test_batchflow_concat_of_two_keys_is_two_points() -> None:
    d = Domain({"a": [1]}) + Domain({"b": [1]})
    assert list(d) == [{"a": 1}, {"b": 1}]
    assert list(Domain.from_yaml({"concat": [{"a": [1]}, {"b": [1]}]})) == list(d)


def test_batchflow_grid_times_sampler_gives_each_grid_point_its_own_draw() -> None:
    d = (Domain({"a": [1, 2]}) * Domain({"b": [3, 4]}) * Domain({"c": "interval(0,1)"})).sample(
        1, seed=7
    )
    points = list(d)
    assert [(p["a"], p["b"]) for p in points] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    draws = [p["c"] for p in points]
    assert len(set(draws)) == 4 and all(0 <= c < 1 for c in draws)
    assert (
        list(Domain.from_yaml({"a": [1, 2], "b": [3, 4], "c": "interval(0,1)"}, samples=1, seed=7))
        == points
    )


def test_the_issues_example_is_eighteen_runs() -> None:
    d = Domain.from_yaml(
        {
            "product": [
                {"model": ["mlp", "cnn"]},
                {
                    "zip": {
                        "optimizer.lr": [0.001, 0.01, 0.1],
                        "optimizer.momentum": [0.9, 0.95, 0.99],
                    }
                },
            ]
        },
        repeats=3,
        seed=0,
    )
    points = list(d)
    assert len(d) == len(points) == 18
    seeds = repeat_seeds(0, 3)
    assert points[:4] == [
        {"model": "mlp", "optimizer.lr": 0.001, "optimizer.momentum": 0.9, "seed": seeds[0]},
        {"model": "mlp", "optimizer.lr": 0.001, "optimizer.momentum": 0.9, "seed": seeds[1]},
        {"model": "mlp", "optimizer.lr": 0.001, "optimizer.momentum": 0.9, "seed": seeds[2]},
        {"model": "mlp", "optimizer.lr": 0.01, "optimizer.momentum": 0.95, "seed": seeds[0]},
    ]
    assert d.expand().structure() == (
        "model: 2 × optimizer.lr: 3 (optimizer.momentum) × repeat: 3 (seed) = 18 points"
    )


def test_zip_of_parts_pairs_their_flattened_points() -> None:
    d = Domain.from_yaml({"zip": [{"a": [1, 2], "b": ["x"]}, {"concat": [{"c": [5]}, {"d": [6]}]}]})
    assert list(d) == [{"a": 1, "b": "x", "c": 5}, {"a": 2, "b": "x", "d": 6}]


def test_draws_inside_a_zip_or_a_concat_are_samples_many() -> None:
    zipped = Domain.from_yaml(
        {"zip": {"a": "interval(0,1)", "b": "int(interval(1,5))"}}, samples=3, seed=2
    ).expand()
    assert [d.name for d in zipped.dims] == ["a"] and zipped.coords == {"b": ("a",)}
    assert len({p.values["a"] for p in zipped.points}) == 3
    chained = Domain.from_yaml(
        {
            "concat": [
                {"a": "interval(0,1)"},
                {"b": [1]},
                {"mix": [{"weight": 1, "domain": {"c": [7]}}]},
            ]
        },
        samples=3,
    )
    assert [sorted(p) for p in chained] == [["a"]] * 3 + [["b"]] + [["c"]] * 3


def test_a_zip_whose_first_part_is_a_concat_lies_along_point() -> None:
    d = Domain.from_yaml({"zip": [{"concat": [{"a": [1]}, {"b": [2]}]}, {"c": [5, 6]}]})
    ex = d.expand()
    assert list(d) == [{"a": 1, "c": 5}, {"b": 2, "c": 6}]
    assert [dim.name for dim in ex.dims] == ["point"]


def test_config_groups_glob_only_in_the_config() -> None:
    with pytest.raises(DomainError, match="glob\\(\\) lists a config group's options"):
        Domain({"model": "glob(*)"})


def test_concat_chains_parts_and_its_points_lie_along_point() -> None:
    d = Domain.from_yaml({"product": [{"m": ["a", "b"]}, {"concat": [{"x": [1, 2]}, {"y": [3]}]}]})
    ex = d.expand()
    assert [p["m"] for p in d] == ["a"] * 3 + ["b"] * 3
    assert [dim.name for dim in ex.dims] == ["m", "point"]
    assert ex.coords == {"x": ("point",), "y": ("point",)}
    assert [p.index for p in ex.points[:3]] == [(0, 0), (0, 1), (0, 2)]


def test_a_sum_of_weighted_domains_is_a_mix_and_plain_terms_stay_chained() -> None:
    d1, d2, d3 = Domain(a=[1]), Domain(b=[2]), Domain(c=[3])
    assert (0.3 * d1 + 0.7 * d2).to_dict()["domain"] == {
        "mix": [{"weight": 0.3, "domain": {"a": [1]}}, {"weight": 0.7, "domain": {"b": [2]}}]
    }
    assert (d1 + 0.5 * d2 + 1.5 * d3).to_dict()["domain"] == {
        "concat": [
            {"a": [1]},
            {"mix": [{"weight": 0.5, "domain": {"b": [2]}}, {"weight": 1.5, "domain": {"c": [3]}}]},
        ]
    }


def test_nested_products_and_concats_flatten() -> None:
    a, b, c = Domain(a=[1, 2]), Domain(b=[3]), Domain(c=[4, 5])
    assert (a * b) * c == a * (b * c) == Domain({"a": [1, 2], "b": [3], "c": [4, 5]})
    assert (a + b) + c == a + (b + c)


# -- draws -----------------------------------------------------------------------------------


def draws_of(spec: str, n: int, seed: int = 0) -> np.ndarray:
    return np.array([p["x"] for p in Domain({"x": spec}).sample(n, seed=seed)])


def test_draws_are_reproducible_for_a_seed_and_differ_for_another() -> None:
    assert list(draws_of("interval(0,1)", 50, seed=1)) == list(draws_of("interval(0,1)", 50, 1))
    assert not set(draws_of("interval(0,1)", 50, 1)) & set(draws_of("interval(0,1)", 50, 2))


def test_uniform_draws_fill_deciles_evenly() -> None:
    x = draws_of("interval(2,4)", 10_000)
    assert x.min() >= 2 and x.max() < 4
    assert_even(np.floor((x - 2) / 0.2), 10)


def test_log_uniform_draws_are_within_bounds_and_uniform_in_log() -> None:
    x = draws_of("tag(log, interval(1e-4, 1e-1))", 10_000)
    assert x.min() >= 1e-4 and x.max() < 1e-1
    u = np.log10(x)  # uniform on [-4, -1)
    sigma = 3 / math.sqrt(12) / math.sqrt(len(u))
    assert abs(u.mean() - (-2.5)) < 3 * sigma
    assert_even(np.floor((u + 4) / 0.3), 10)


def test_integer_draws_cover_both_ends() -> None:
    x = draws_of("int(interval(1, 10))", 10_000)
    assert x.dtype.kind == "i" and set(x) == set(range(1, 11))
    assert_even(x - 1, 10)
    y = draws_of("int(tag(log, interval(1, 1000)))", 10_000)
    assert y.min() >= 1 and y.max() <= 1000
    assert abs(np.mean(y <= 31) - 0.5) < 0.05  # half the log range lies below sqrt(1000)


def assert_even(bins: np.ndarray, k: int) -> None:
    """Each of the k bins holds n/k draws, within 3 binomial standard deviations."""
    n = len(bins)
    counts = np.bincount(bins.astype(int), minlength=k)
    assert len(counts) == k
    sigma = math.sqrt(n * (1 / k) * (1 - 1 / k))
    assert np.all(np.abs(counts - n / k) < 3 * sigma), counts


def test_mixture_frequencies_follow_the_weights() -> None:
    d = (0.3 * Domain(a=[1, 2]) + 0.5 * Domain(b="interval(0,1)") + 0.2 * Domain(c=[9])).sample(
        10_000, seed=3
    )
    points = list(d)
    n = len(points)
    for key, weight in (("a", 0.3), ("b", 0.5), ("c", 0.2)):
        count = sum(key in p for p in points)
        assert abs(count - n * weight) < 3 * math.sqrt(n * weight * (1 - weight)), (key, count)
    a = [p["a"] for p in points if "a" in p]
    assert abs(a.count(1) - len(a) / 2) < 3 * math.sqrt(len(a) / 4)


def test_mixture_of_weight_zero_never_draws_that_part() -> None:
    d = (0.0 * Domain(a=[1]) + 1.0 * Domain(b=[2])).sample(200)
    assert all(p == {"b": 2} for p in d)


def test_each_random_key_has_its_own_stream() -> None:
    one = Domain({"x": "interval(0,1)"}).sample(20, seed=5)
    two = Domain({"x": "interval(0,1)", "y": "interval(0,1)"}).sample(20, seed=5)
    xs = [p["x"] for p in two]
    assert xs == [p["x"] for p in one] and xs != [p["y"] for p in two]


# -- repeats ---------------------------------------------------------------------------------


def test_repeat_seeds_are_distinct_and_shared_by_every_point() -> None:
    d = Domain({"model": ["a", "b"]}).repeat(4)
    points = list(d)
    seeds = [p["seed"] for p in points]
    assert seeds[:4] == seeds[4:] == repeat_seeds(0, 4)
    assert len(set(seeds[:4])) == 4 and all(0 <= s < 2**32 for s in seeds)
    assert seeds[:4] == [
        int(np.random.SeedSequence(0).spawn(4)[r].generate_state(1)[0]) for r in range(4)
    ]
    assert repeat_seeds(1, 4) != repeat_seeds(0, 4)


def test_repeat_writes_its_seed_to_the_seed_key() -> None:
    d = Domain(a=[1]).repeat(2, seed_key="trainer.seed")
    assert [p["trainer.seed"] for p in d] == repeat_seeds(0, 2)
    assert d.expand().points[0].overrides == ("a=1", f"++trainer.seed={repeat_seeds(0, 2)[0]}")


def test_seeds_and_draws_are_the_same_in_a_fresh_process() -> None:
    code = textwrap.dedent("""
        import json
        from snakesweep.core.domain import Domain
        d = Domain.from_yaml({"a": [1, 2], "x": "tag(log, interval(1e-3, 1))"},
                             samples=3, seed=11, repeats=2)
        print(json.dumps(list(d)))
    """)
    outs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": h},
        ).stdout
        for h in ("0", "12345")
    ]
    here = list(
        Domain.from_yaml(
            {"a": [1, 2], "x": "tag(log, interval(1e-3, 1))"}, samples=3, seed=11, repeats=2
        )
    )
    assert json.loads(outs[0]) == json.loads(outs[1]) == here
    assert len(here) == 2 * 3 * 2


# -- YAML and Python -------------------------------------------------------------------------

ROUND_TRIPS = [
    Domain({"a": [1, 2], "b": "range(0,3)"}),
    Domain({"model": ["mlp", "cnn"]}) * (Domain({"lr": [0.1, 0.2]}) @ Domain({"m": [0.9, 0.8]})),
    (Domain(a=[1]) + Domain(b="x,y")).repeat(3, seed_key="trainer.seed"),
    (0.25 * Domain(a=[1, 2]) + 0.75 * Domain(x="interval(0,1)")).sample(5, seed=2),
    (Domain({"g": "choice(a,b)"}) * Domain({"x": "int(interval(1,9))"})).sample(2),
    Domain(
        {
            "s": [
                "it's",
                "$(rm -rf ~)",
                "a\nb",
                None,
                1e-5,
                float("inf"),
                "C:\\data\\",
                "x\\'y",
                "${a}",
                "mlp",
                "true-ish",
            ]
        }
    ),
    Domain.from_yaml({"zip": {"a": "interval(0,1)", "b": "interval(0,1)"}}, samples=3),
    Domain.from_yaml({"concat": [{"a": "interval(0,1)"}, {"b": [1]}]}, samples=2),
]


@pytest.mark.parametrize("domain", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_yaml_and_python_round_trip(domain: Domain) -> None:
    text = domain.to_yaml()
    assert isinstance(text, str) and yaml.safe_load(text) == domain.to_dict()
    again = Domain.from_yaml(text)
    assert again == domain
    assert json.dumps(list(again), sort_keys=True) == json.dumps(list(domain), sort_keys=True)
    assert Domain.from_yaml(domain.to_dict()) == domain
    assert Domain.from_yaml(**domain.to_dict()) == domain
    pasted = yaml.safe_dump({"snakesweep": domain.to_dict()})  # a config's node, whole
    assert Domain.from_yaml(pasted) == domain


def test_from_yaml_reads_settings_beside_the_domain_and_its_arguments_win() -> None:
    d = Domain({"a": [1, 2, 3]}).repeat(2, seed_key="s")
    assert d.to_dict() == {"domain": {"a": [1, 2, 3]}, "repeats": 2, "seed_key": "s"}
    assert Domain.from_yaml(d.to_yaml(), repeats=3) == Domain({"a": [1, 2, 3]}).repeat(
        3, seed_key="s"
    )
    with pytest.raises(DomainError, match=r"unknown domain setting\(s\) \['sample'\]"):
        Domain.from_yaml("domain: {a: [1]}\nsample: 3\n")
    with pytest.raises(DomainError, match="Domain.from_yaml: is not YAML"):
        Domain.from_yaml("domain: {a: [1]")


def test_len_counts_the_points_and_refuses_what_expansion_refuses() -> None:
    for d in [*ROUND_TRIPS, Domain({"a": list(range(100))}) * Domain({"b": list(range(10))})]:
        assert len(d) == len(list(d))
    with pytest.raises(DomainError, match="lengths differ"):
        len(Domain({"a": [1, 2]}) @ Domain({"b": [1]}))
    with pytest.raises(DomainError, match="set snakesweep.samples"):
        len(Domain({"a": "interval(0,1)"}))
    assert len(sum([Domain(a=[1]), Domain(b=[2, 3])])) == 3


# -- errors, one line each naming the culprit ------------------------------------------------


@pytest.mark.parametrize(
    "node, settings, message",
    [
        (
            {"zip": {"optimizer.lr": [1, 2, 3], "optimizer.momentum": [1, 2]}},
            {},
            "zip: lengths differ: optimizer.lr has 3, optimizer.momentum has 2",
        ),
        ({"union": [{"a": [1]}, {"b": [2]}]}, {}, "'union' is not an operator"),
        (
            {"mix": [{"weight": -1, "domain": {"a": [1]}}, {"weight": 2, "domain": {"b": [1]}}]},
            {"samples": 3},
            "mix: weight of part 1 is negative (-1)",
        ),
        (
            {"mix": [{"weight": 0, "domain": {"a": [1]}}, {"weight": 0, "domain": {"b": [1]}}]},
            {"samples": 3},
            "mix: weights [0, 0] sum to zero",
        ),
        (
            {"mix": [{"weight": 1, "domain": {"a": [1]}}]},
            {},
            "a mix draws its points: set snakesweep.samples",
        ),
        (
            {"a": [1], "lr": "interval(0,1)"},
            {},
            "key 'lr': 'interval(0,1)' draws random values: set snakesweep.samples",
        ),
        (
            {"product": [{"a": [1, 2]}, {"zip": {"a": [1, 2], "b": [3, 4]}}]},
            {},
            "key 'a': is in two factors of a product",
        ),
        ({"a": "range("}, {}, "key 'a': 'range(': no viable alternative at input"),
        ({"a": []}, {}, "key 'a': has no values"),
        ({"a": "shuffle(1,2)"}, {}, "shuffle() gives a random order"),
        ({"a": "tag(log, interval(0, 1))"}, {"samples": 2}, "a log-uniform interval needs a start"),
        ({"a": [1]}, {"samples": 2}, "snakesweep.samples: the domain draws nothing"),
        ({"a": [1]}, {"repeats": 0}, "snakesweep.repeats: expected an integer >= 1, got 0"),
        ({"seed": [1, 2]}, {"repeats": 2}, "snakesweep.seed_key: 'seed' is also a key"),
        ({"mix": [{"weight": 1}]}, {"samples": 2}, "expected {weight: w, domain: part}"),
        ({}, {}, "snakesweep.domain: is empty"),
        ({"zip": {}}, {}, "snakesweep.domain.zip: takes a list of parts"),
        (
            {"mix": [{"weight": float("inf"), "domain": {"a": [1]}}]},
            {"samples": 2},
            "weight of part 1 is inf, not a finite number",
        ),
        ({"repeat": [1, 2]}, {"repeats": 2}, "key 'repeat': is also the dimension of repeats"),
        ([1, 2], {}, "expected a mapping of keys to values"),
    ],
)
def test_errors_name_their_culprit_in_one_line(
    node: object, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(DomainError) as caught:
        d = Domain.from_yaml(node, **settings)
        d.expand()
    text = str(caught.value)
    assert message in text and "\n" not in text, text


def test_python_operators_refuse_settings_inside_a_combination() -> None:
    with pytest.raises(DomainError, match="call them after combining"):
        Domain(a=[1]).repeat(2) * Domain(b=[2])
    with pytest.raises(DomainError, match="weight of part 1 is negative"):
        -0.5 * Domain(a=[1])


def test_from_yaml_reads_text_as_a_config_file_does_and_a_configs_snakesweep_node() -> None:
    assert list(Domain.from_yaml("lr: [1e-4, 1e-3]")) == [{"lr": 0.0001}, {"lr": 0.001}]
    texts = Domain({"s": ["1e-4", "1", "true", "null"]})  # strings that read as other things
    assert Domain.from_yaml(texts.to_yaml()) == texts
    config = (
        "snakesweep:\n  experiment: m:f\n  pictures: true\n  domain: {a: [1, 2]}\n  repeats: 2\n"
    )
    assert Domain.from_yaml(config) == Domain({"a": [1, 2]}).repeat(
        2
    )  # its other options: not ours
    with pytest.raises(DomainError, match=r"snakesweep.domain: expected a mapping .*got 'm:fn'"):
        Domain.from_yaml("domain: m:fn\nrepeats: 2\n")


def test_a_domain_read_back_sums_as_the_expression_that_wrote_it() -> None:
    a, b, c = Domain(a=[1]), Domain(b=[2]), Domain(c=[3])
    for written in (0.3 * a + 0.7 * b, a + 0.5 * b + 1.5 * c, a + b):
        read = Domain.from_yaml(written.to_yaml())
        assert read + 0.5 * c == written + 0.5 * c  # a mix grows, it does not nest
        assert read + c == written + c
