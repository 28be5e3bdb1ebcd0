#!/usr/bin/env python3
"""ha_test.py's own logic without a bed: WriteGap on constructed timelines (events in
time order) and the in-doubt retry loop against a scripted client. deploy/ha-test
runs it first.
  python3 deploy/kit/test_ha_driver.py"""
import os
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crash_test import Counters  # noqa: E402
from ha_test import Doubt, Load, WriteGap  # noqa: E402


def steady(gap, start, end, step=0.1):
    """Successful writes every `step` seconds from start to end."""
    count = round((end - start) / step)
    for index in range(count + 1):
        gap.success(start + index * step)


class WriteGapTests(unittest.TestCase):
    def test_an_outage_across_the_stop_is_one_gap(self):
        # Writes until 10 s, none until 45 s; the stop at 38 s; in-doubt retries
        # succeed at 45 s (after the stop): one 35 s outage, not 28 + 7.
        gap = WriteGap(start=0.0)
        steady(gap, 0.0, 10.0)
        gap.stop(38.0)
        gap.success(45.0)
        gap.close(45.5)
        self.assertAlmostEqual(gap.longest, 35.0)
        self.assertAlmostEqual(gap.longest_from, 10.0)

    def test_an_outage_still_on_at_the_end_counts_to_the_end(self):
        # No write succeeded after 10 s; the stop at 38 s, the clients gave up at 50 s.
        gap = WriteGap(start=0.0)
        steady(gap, 0.0, 10.0)
        gap.stop(38.0)
        gap.close(50.0)
        self.assertAlmostEqual(gap.longest, 40.0)

    def test_the_stop_is_not_a_write(self):
        # An outage from 10 s to 30 s, writes again until the stop: the stop adds nothing.
        gap = WriteGap(start=0.0)
        steady(gap, 0.0, 10.0)
        steady(gap, 30.0, 38.0)
        gap.stop(38.05)
        gap.close(38.1)
        self.assertAlmostEqual(gap.longest, 20.0)
        self.assertAlmostEqual(gap.longest_from, 10.0)

    def test_healthy_load(self):
        gap = WriteGap(start=0.0)
        steady(gap, 0.0, 38.0)
        gap.stop(38.02)
        gap.close(38.04)
        self.assertAlmostEqual(gap.longest, 0.1)

    def test_successes_out_of_order_between_threads(self):
        # A thread reports an earlier success after another thread's later one.
        gap = WriteGap(start=0.0)
        gap.success(5.0)
        gap.success(4.0)
        gap.success(7.0)
        gap.stop(7.5)
        gap.close(7.6)
        self.assertAlmostEqual(gap.longest, 5.0)


class ScriptedClient:
    """Answers each call with the next status of its script."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.headers = {}

    def call(self, method, path, body=None, headers=None):
        status = self.statuses.pop(0)
        return status, (None if status is None else {"detail": "x"} if status < 300 else {"error": {}})


class UntilDefinitiveTests(unittest.TestCase):
    def send(self, statuses):
        counters, gap, doubt = Counters(), WriteGap(), Doubt()
        counters.values["unexpected_5xx"] = 0
        args = types.SimpleNamespace(doubt_bound=5.0)
        load = Load(args, [], counters, gap, doubt)
        status, _, attempts = load.until_definitive(ScriptedClient(statuses), "POST", "/collections", {}, {})
        return status, attempts, counters.values["unexpected_5xx"], doubt.values["in_doubt"]

    def test_503_is_in_doubt_and_retried(self):
        self.assertEqual(self.send([503, None, 503, 201]), (201, 4, 0, 1))

    def test_another_5xx_is_counted_and_still_retried(self):
        self.assertEqual(self.send([502, 504, 200]), (200, 3, 2, 1))

    def test_a_definitive_answer_at_once(self):
        self.assertEqual(self.send([201]), (201, 1, 0, 0))
        self.assertEqual(self.send([412]), (412, 1, 0, 0))


if __name__ == "__main__":
    unittest.main()
