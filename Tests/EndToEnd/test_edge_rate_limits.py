"""Rate limits no header can dodge: 600 requests in about 3 s, each with a fresh
random key, with random Basic credentials, or with the valid key spelled as
Bearer in any case with any blanks, all meet a limit and get the 429 envelope."""
import base64
import random

from edge_client import assert_envelope, own_key, paced, rendered

SECONDS = 3.0
COUNT = 600


def limited(answers):
    statuses = [status for status, _, _ in answers]
    refused = [answer for answer in answers if answer[0] == 429]
    assert refused, statuses
    status, headers, body = refused[0]
    error = assert_envelope(status, headers, body, "RATE_LIMIT_EXCEEDED")
    assert error["type"] == "rate_limit_error" and headers["Retry-After"] == "1"
    return statuses


def test_a_fresh_random_key_per_request_meets_the_per_address_limit(stack):
    rng = random.Random(21)
    path = f"/v1/music/{stack.org}/collections?limit=1"
    requests = [(path, {"X-API-Key": "ak_" + rng.randbytes(16).hex()}) for _ in range(COUNT)]
    statuses = limited(paced(stack, requests, SECONDS, ["127.0.0.21"]))
    assert set(statuses) == {401, 429}, statuses


def test_basic_credentials_carry_no_key_and_meet_the_address_limits(stack):
    rng = random.Random(22)
    path = f"/v1/music/{stack.org}/collections?limit=1"
    requests = [(path, {"Authorization": "Basic " + base64.b64encode(rng.randbytes(12)).decode()})
                for _ in range(COUNT)]
    statuses = limited(paced(stack, requests, SECONDS, ["127.0.0.22"]))
    assert set(statuses) == {401, 429}, statuses


def spelling(rng, key):
    """"Bearer KEY" as the worker accepts it: the scheme in any case, one space,
    then any blanks around the key."""
    scheme = "".join(letter.upper() if rng.random() < 0.5 else letter for letter in "bearer")
    blanks = lambda: "".join(rng.choice(" \t") for _ in range(rng.randrange(0, 4)))
    return f"{scheme} {blanks()}{key}{blanks()}"


def test_every_spelling_of_one_key_shares_one_bucket(stack):
    rng = random.Random(23)
    path = f"/v1/music/{stack.org}/collections?limit=1"
    key = own_key(stack)
    spellings = set()
    while len(spellings) < COUNT:
        spellings.add(spelling(rng, key))
    requests = [(path, {"Authorization": value}) for value in sorted(spellings)]
    rng.shuffle(requests)
    # From six addresses, 100 requests each: under every per-address limit, so
    # only the per-key limit can refuse them.
    sources = [f"127.0.0.{23 + index}" for index in range(6)]
    assert COUNT / len(sources) < rendered(stack, r"zone=music_per_address burst=(\d+)")
    statuses = limited(paced(stack, requests, SECONDS, sources, per_source=2))
    assert set(statuses) == {200, 429}, statuses
    # One bucket: at most its burst plus its rate over the run (and a margin for
    # the time the run took beyond SECONDS).
    rate = rendered(stack, r"zone=music_per_key:\w+ rate=(\d+)r/s")
    burst = rendered(stack, r"zone=music_per_key burst=(\d+)")
    assert statuses.count(200) <= burst + rate * (SECONDS + 1), statuses.count(200)
