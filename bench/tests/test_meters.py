"""Latency samples and percentiles (bench/kubehub_bench/meters.py)."""
import os
import tempfile
import unittest

from kubehub_bench.meters import percentile, read_latency_samples


class PercentileTest(unittest.TestCase):
    def test_no_values_has_no_percentile(self):
        self.assertIsNone(percentile([], 50))

    def test_one_value_is_every_percentile(self):
        for p in (0, 50, 99, 100):
            self.assertEqual(percentile([7.5], p), 7.5)

    def test_nearest_rank_rounded_half_up(self):
        values = list(range(1, 101))  # 1..100
        self.assertEqual(percentile(values, 0), 1)
        self.assertEqual(percentile(values, 50), 51)  # rank 49.5 rounds up to 50
        self.assertEqual(percentile(values, 99), 99)  # rank 98.01
        self.assertEqual(percentile(values, 100), 100)

    def test_input_order_does_not_matter_and_is_kept(self):
        values = [5, 1, 4, 2, 3]
        self.assertEqual(percentile(values, 50), 3)
        self.assertEqual(percentile(values, 100), 5)
        self.assertEqual(values, [5, 1, 4, 2, 3])


class LatencySamplesTest(unittest.TestCase):
    def test_only_successful_samples_count(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "samples.txt")
            with open(path, "w") as f:
                f.write("0 812.5 200\n1 900 500\n2 1000.25 200 extra\n\nshort line\n")
            self.assertEqual(read_latency_samples(path), [812.5, 1000.25])


if __name__ == "__main__":
    unittest.main()
