"""Requests run at the same moment, on threads of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(requests: list[Callable[[], Any]]) -> list[Any]:
    """The requests started together (a barrier lets them go); their answers, in order,
    or what they raised (every answer is for the caller to assert)."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)

    def run(n: int) -> None:
        barrier.wait()
        try:
            answers[n] = requests[n]()
        except BaseException as exc:  # handed to the caller
            answers[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers
