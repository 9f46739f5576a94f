"""Figures and the results file (bench/kubehub_bench/report.py)."""
import unittest

from kubehub_bench.config import STEPS
from kubehub_bench.report import Results, fmt, other_processes_cpu, result_stem, watch_series


class ResultsTest(unittest.TestCase):
    def test_plain_figure(self):
        r = Results()
        fig = r.add("x.rss", "hub RSS", "bytes", 1000)
        self.assertEqual(fig, {"id": "x.rss", "title": "hub RSS", "unit": "bytes", "value": 1000})
        self.assertEqual(r.figures, [fig])

    def test_baseline_gives_ratio_and_added_time(self):
        fig = Results().add("get.p50", "GET p50", "ms", 1.5, 1.0, "direct")
        self.assertEqual(fig["baseline"], {"name": "direct", "value": 1.0})
        self.assertEqual(fig["ratio"], 1.5)
        self.assertEqual(fig["added"], 0.5)
        self.assertNotIn("target", fig)
        self.assertNotIn("meets_target", fig)

    def test_added_only_for_times_and_no_ratio_over_zero(self):
        fig = Results().add("get.rps", "GET rps", "req/s", 900.0, 1000.0, "direct")
        self.assertNotIn("added", fig)
        self.assertAlmostEqual(fig["ratio"], 0.9)
        fig = Results().add("errs", "errors", "us", 3, 0, "direct")
        self.assertNotIn("ratio", fig)
        self.assertEqual(fig["added"], 3)

    def test_target_lower_or_higher_is_better(self):
        r = Results()
        self.assertTrue(r.add("a", "a", "ms", 2.0, target=2.0)["meets_target"])
        self.assertFalse(r.add("b", "b", "ms", 2.1, target=2.0)["meets_target"])
        self.assertTrue(r.add("c", "c", "req/s", 10, target=5, lower_is_better=False)["meets_target"])
        self.assertFalse(r.add("d", "d", "req/s", 4, target=5, lower_is_better=False)["meets_target"])
        self.assertEqual(r.add("e", "e", "ms", 1, target=5)["target"], {"value": 5, "text": None})

    def test_target_text_only_and_explicit_verdict(self):
        r = Results()
        fig = r.add("a", "a", "ms", 9, target_text="no regression")
        self.assertEqual(fig["target"], {"value": None, "text": "no regression"})
        self.assertIsNone(fig["meets_target"])
        fig = r.add("b", "b", "ms", 9, target=1, meets=True, note_text="why")
        self.assertTrue(fig["meets_target"])
        self.assertEqual(fig["note"], "why")

    def test_figure_keys_in_order(self):
        fig = Results().add("a", "t", "ms", 2.0, 1.0, "direct", target=3.0, target_text="<= 3 ms",
                            note_text="n")
        self.assertEqual(list(fig), ["id", "title", "unit", "value", "baseline", "ratio", "added", "target",
                                     "meets_target", "note"])


class FileNameTest(unittest.TestCase):
    def test_full_run(self):
        self.assertEqual(result_stem("2026-12-02", "abc1234", False, list(STEPS)), "2026-12-02-abc1234")

    def test_partial_and_quick(self):
        self.assertEqual(result_stem("2026-12-02", "abc1234", False, ["codec"]), "2026-12-02-abc1234-partial")
        self.assertEqual(result_stem("2026-12-02", "abc1234", True, list(STEPS)), "2026-12-02-abc1234-quick")
        self.assertEqual(result_stem("d", "s", True, ["reads", "codec"]), "d-s-quick-partial")

    def test_every_step_in_another_order_is_partial(self):
        self.assertTrue(result_stem("d", "s", False, list(reversed(STEPS))).endswith("-partial"))


class SummaryTest(unittest.TestCase):
    def test_watch_samples_become_series(self):
        series = watch_series(["direct 0 120.5\n", "cache 0 300\n", "forward 1 450.25\n", "direct 1 130\n"])
        self.assertEqual(series, {"direct": [120.5, 130.0], "cache rv unset": [300.0], "forward": [450.25]})

    def test_other_processes_mean_is_weighted_by_wall_time(self):
        mean, worst = other_processes_cpu([(1.0, 10.0), (3.0, 50.0)])
        self.assertAlmostEqual(mean, 40.0)
        self.assertEqual(worst, 50.0)

    def test_fmt(self):
        self.assertEqual(fmt(None, "ms"), "-")
        self.assertEqual(fmt(12345.6, "req/s"), "12,346")
        self.assertEqual(fmt(3.0, "bytes"), "3")
        self.assertEqual(fmt(123.4, "ms"), "123")
        self.assertEqual(fmt(12.34, "ms"), "12.3")
        self.assertEqual(fmt(1.234, "ms"), "1.23")


if __name__ == "__main__":
    unittest.main()
