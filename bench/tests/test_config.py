"""BENCH_* parsing (bench/kubehub_bench/config.py)."""
import os
import unittest

from kubehub_bench.config import STEPS, SYSTEM_STEPS, bin_dir, parse_counts, parse_only


class ParseOnlyTest(unittest.TestCase):
    def test_default_is_every_step_in_order(self):
        self.assertEqual(parse_only(",".join(STEPS)), list(STEPS))

    def test_spaces_and_blank_entries_are_ignored(self):
        self.assertEqual(parse_only(" codec, ,reads ,"), ["codec", "reads"])
        self.assertEqual(parse_only(""), [])

    def test_order_is_kept_as_written(self):
        self.assertEqual(parse_only("stream,crud"), ["stream", "crud"])

    def test_unknown_step_is_named(self):
        with self.assertRaisesRegex(ValueError, r"unknown step 'read'.*codec, reads"):
            parse_only("codec,read")

    def test_system_steps_are_steps(self):
        self.assertTrue(set(SYSTEM_STEPS) <= set(STEPS))
        self.assertNotIn("codec", SYSTEM_STEPS)
        self.assertNotIn("fleet", SYSTEM_STEPS)


class KnobsTest(unittest.TestCase):
    def test_counts(self):
        self.assertEqual(parse_counts("1000,10000"), [1000, 10000])
        self.assertEqual(parse_counts(" 200 "), [200])
        self.assertEqual(parse_counts(""), [])

    def test_bin_dir_relative_to_root_or_absolute(self):
        self.assertEqual(bin_dir("build", root="/repo"), os.path.join("/repo", "build", "bin"))
        self.assertEqual(bin_dir("/elsewhere/b", root="/repo"), os.path.join("/elsewhere/b", "bin"))


if __name__ == "__main__":
    unittest.main()
