"""A Stripe subscription as a small state machine (SPEC §6), pure.

The memory entry of a subscription is its *phase* — what the engine has been
told so far — plus the terms and `cancel_at_period_end` the engine knows, and
the (`created`, event id) of the last applied snapshot. Each newer snapshot is
turned into SPEC §2.1 events by difference from that entry:

    phase        trial snapshot   active snapshot         paused snapshot          canceled snapshot
    none         trial.started    started (+changed cap)  started, paused          (nothing)
    trial        (nothing)        started (conversion)    trial.ended              trial.ended
    trial_ended  (nothing)        started (late conv.)    (nothing)                (nothing)
    running      paused           changed (differences)   paused (+changed)        canceled
    paused       (+changed)       (+changed) resumed      (+changed)               canceled

`none` is also the phase after a cancellation: only canceled snapshots so far.
A canceled snapshot needs no terms (`cancel`); the others do (`step`).
"""

from __future__ import annotations

from typing import Any

from engine.stripe.snapshot import Terms

Event = dict[str, Any]
Step = tuple[list[Event], dict[str, Any]]


def cancel(entry: dict[str, Any], reason: str | None) -> Step:
    """A canceled snapshot: ends a trial, cancels a started subscription."""
    phase = entry.get("phase", "none")
    if phase == "trial":
        return [{"type": "trial.ended"}], _entry("trial_ended")
    if phase in ("running", "paused"):
        event: Event = {"type": "subscription.canceled"}
        if reason:
            event["reason"] = reason
        return [event], _entry("none")
    return [], _entry(phase)


def step(entry: dict[str, Any], state: str, terms: Terms, cap: bool) -> Step:
    """A trial, active or paused snapshot: (event bodies without ids and ts, the new entry)."""
    phase = entry.get("phase", "none")
    if phase in ("running", "paused"):
        return _from_started(entry, state, terms, cap)
    if state == "active":
        return _start(state, terms, cap)  # a start, a trial conversion, a late conversion
    if phase == "none":
        if state == "trial":
            return [{"type": "trial.started", "plan": terms.plan}], _entry("trial")
        return _start(state, terms, cap)
    if phase == "trial" and state == "paused":
        return [{"type": "trial.ended"}], _entry("trial_ended")
    return [], _entry(phase)  # a trial goes on; after trial.ended only `active` counts


def _from_started(entry: dict[str, Any], state: str, terms: Terms, cap: bool) -> Step:
    change = _changed(entry, terms, cap)
    was_running = entry["phase"] == "running"
    now_running = state == "active"  # a started subscription back in trial earns nothing: paused
    if was_running and not now_running:
        events = [
            {"type": "subscription.paused"},
            *change,
        ]  # pause first: no movement for the change
    elif now_running and not was_running:
        events = [*change, {"type": "subscription.resumed"}]  # change while paused, one movement
    else:
        events = change
    return events, _entry("running" if now_running else "paused", terms, cap)


def _start(state: str, terms: Terms, cap: bool) -> Step:
    events: list[Event] = [{"type": "subscription.started", **terms.fields()}]
    if cap:
        events.append({"type": "subscription.changed", "cancel_at_period_end": True})
    if state == "paused":
        events.append({"type": "subscription.paused"})
        return events, _entry("paused", terms, cap)
    return events, _entry("running", terms, cap)


def _changed(entry: dict[str, Any], terms: Terms, cap: bool) -> list[Event]:
    old = entry.get("terms") or {}
    new = terms.fields()
    diff = {k: v for k, v in new.items() if old.get(k) != v}
    if "quantity" in old and "quantity" not in new:
        diff.pop("quantity", None)  # Stripe quantity 0: SPEC has no such value; the amount says it
    if bool(entry.get("cap")) != cap:
        diff["cancel_at_period_end"] = cap
    return [{"type": "subscription.changed", **diff}] if diff else []


def _entry(phase: str, terms: Terms | None = None, cap: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"phase": phase}
    if terms is not None:
        entry["terms"] = terms.fields()
        entry["cap"] = cap
    return entry
