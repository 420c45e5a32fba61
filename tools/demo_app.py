"""A small program to profile: parses, computes and sorts for ~3 seconds.

`tools/demo` runs it under `psample record`; the profile shows where its
time goes: mostly in is_prime, then in the JSON round trip and sorting.
"""
import json
import random
import time


def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def count_primes(limit):
    return sum(1 for n in range(limit) if is_prime(n))


def json_round_trip(records):
    return json.loads(json.dumps(records))


def make_records(n):
    return [{"id": i, "score": random.random(), "tags": ["a", "b"]}
            for i in range(n)]


def rank(records):
    return sorted(records, key=lambda r: r["score"])


def main():
    end = time.time() + 3
    rounds = 0
    while time.time() < end:
        count_primes(20000)
        rank(json_round_trip(make_records(5000)))
        rounds += 1
    print("demo: %d rounds" % rounds)


if __name__ == "__main__":
    main()
