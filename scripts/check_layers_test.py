"""Unit tests for check_layers.py over small synthetic trees: each rule must catch its break."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layers  # noqa: E402


class CheckLayersTest(unittest.TestCase):
    def tree(self, files):
        root = tempfile.mkdtemp(prefix="layers-")
        self.addCleanup(lambda: __import__("shutil").rmtree(root, ignore_errors=True))
        for path, includes in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write("".join(f'#include "{h}"\n' for h in includes))
        return check_layers.violations(check_layers.include_edges(root))

    def test_clean_tree_has_no_problem(self):
        self.assertEqual(self.tree({
            "common/net/a.h": [],
            "proto/b.h": ["common/net/a.h"],
            "hub/api/c.h": ["hub/cache/d.h", "proto/b.h", "metaserver/model/m.h"],
            "hub/cache/d.h": ["hub/metrics/m.h"],
            "hub/metrics/m.h": ["common/net/a.h"],
            "metaserver/model/m.h": [],
        }), [])

    def test_folder_cycle_is_named_with_its_includes(self):
        problems = self.tree({
            "hub/auth/a.h": ["hub/metrics/m.h"],
            "hub/metrics/m.h": [],
            "hub/metrics/m.cc": ["hub/tunnel/t.h"],
            "hub/tunnel/t.h": ["hub/auth/a.h"],
        })
        cycle = [p for p in problems if "cycle" in p]
        self.assertEqual(len(cycle), 1)
        self.assertIn("hub/auth, hub/metrics, hub/tunnel", cycle[0])
        self.assertIn("hub/metrics/m.cc includes hub/tunnel/t.h", cycle[0])

    def test_parts_stay_apart(self):
        problems = self.tree({
            "common/x.h": ["hub/api/y.h"],
            "hub/api/y.h": ["metaserver/store/s.h"],
            "metaserver/store/s.h": [],
        })
        self.assertTrue(any(p.startswith("common/x.h includes hub/api/y.h") for p in problems))
        self.assertTrue(any(p.startswith("hub/api/y.h includes metaserver/store/s.h")
                            for p in problems))

    def test_metrics_is_a_leaf(self):
        problems = self.tree({"hub/metrics/m.cc": ["hub/cache/c.h"], "hub/cache/c.h": []})
        self.assertEqual(len(problems), 1)
        self.assertIn("leaf", problems[0])

    def test_missing_headers_are_not_edges(self):
        self.assertEqual(self.tree({"hub/api/a.cc": ["hub/cache/generated.h"]}), [])


if __name__ == "__main__":
    unittest.main()
