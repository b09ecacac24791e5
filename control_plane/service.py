"""The control plane's use cases over a `Store`: read, apply a pure change, check, CAS-commit.

Every mutation follows one path (`_commit`): the new objects, the audit record
and, for allocation changes, the layer's allocation marker are written in one
store transaction that compares the mod revisions of everything the decision
read. A lost race is `StaleVersion` (FAILED_PRECONDITION), never a silent
overwrite; a store that is down is `Unavailable`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from splitline.control_plane import allocation, definitions, keys
from splitline.control_plane.errors import (
    AlreadyExists,
    InvalidDefinition,
    InvalidTransition,
    LayerFull,
    NotFound,
    StaleVersion,
    Unavailable,
)
from splitline.control_plane.lifecycle import HOLDS_RANGES, next_status
from splitline.control_plane.store import Conflict, Store, StoreUnavailable
from splitline.core.hashing import BUCKET_COUNT
from splitline.core.validate import KEY_PATTERN, FieldError
from splitline.v1 import config_pb2, control_pb2

S = config_pb2


def now_ts() -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(time.time_ns())
    return ts


def to_json(message: Message | None) -> str:
    if message is None:
        return ""
    return json_format.MessageToJson(message, indent=None, sort_keys=True)


@dataclass
class State:
    """The config as read at `revision`, with each object's mod revision."""

    revision: int
    layers: dict[str, tuple[config_pb2.Layer, int]] = field(default_factory=dict)
    experiments: dict[str, tuple[config_pb2.Experiment, int]] = field(default_factory=dict)
    holdouts: dict[str, tuple[config_pb2.Holdout, int]] = field(default_factory=dict)

    def snapshot(self) -> config_pb2.ConfigSnapshot:
        return definitions.build_snapshot(
            (v for v, _ in self.layers.values()),
            (v for v, _ in self.experiments.values()),
            (v for v, _ in self.holdouts.values()),
            self.revision,
        )

    def with_experiment(self, exp: config_pb2.Experiment) -> config_pb2.ConfigSnapshot:
        exps = {k: v for k, (v, _) in self.experiments.items()}
        exps[exp.key] = exp
        return definitions.build_snapshot(
            (v for v, _ in self.layers.values()),
            exps.values(),
            (v for v, _ in self.holdouts.values()),
            self.revision,
        )


@dataclass(frozen=True, slots=True)
class Committed:
    revision: int
    committed_at: Timestamp


class ControlPlane:
    """Experiments, layers, holdouts, metrics and audit over one store."""

    def __init__(self, store: Store, clock: Callable[[], Timestamp] = now_ts) -> None:
        self.store = store
        self._clock = clock

    # ------------------------------------------------------------------ reads

    async def load(self) -> State:
        try:
            entries, revision = await self.store.list(keys.CONFIG_PREFIX)
        except StoreUnavailable as exc:
            raise Unavailable(f"cannot read config: {exc}") from exc
        state = State(revision)
        for entry in entries:
            if entry.key.startswith(keys.EXPERIMENTS):
                exp = S.Experiment.FromString(entry.value)
                state.experiments[exp.key] = (exp, entry.mod_revision)
            elif entry.key.startswith(keys.LAYERS):
                layer = S.Layer.FromString(entry.value)
                state.layers[layer.id] = (layer, entry.mod_revision)
            elif entry.key.startswith(keys.HOLDOUTS):
                holdout = S.Holdout.FromString(entry.value)
                state.holdouts[holdout.id] = (holdout, entry.mod_revision)
        return state

    async def metrics(self) -> dict[str, control_pb2.MetricDefinition]:
        try:
            entries, _ = await self.store.list(keys.METRICS)
        except StoreUnavailable as exc:
            raise Unavailable(f"cannot read metrics: {exc}") from exc
        out = {}
        for entry in entries:
            metric = control_pb2.MetricDefinition.FromString(entry.value)
            out[metric.name] = metric
        return out

    async def get_experiment(self, key: str) -> config_pb2.Experiment:
        state = await self.load()
        return self._find(state, key)[0]

    @staticmethod
    def _find(state: State, key: str) -> tuple[config_pb2.Experiment, int]:
        found = state.experiments.get(key)
        if found is None:
            raise NotFound(f"no experiment {key!r}")
        return found

    async def list_experiments(self, request: control_pb2.ListExperimentsRequest) -> list[config_pb2.Experiment]:
        state = await self.load()
        out = []
        for exp, _ in sorted(state.experiments.values(), key=lambda x: x[0].key):
            if (
                exp.status == S.EXPERIMENT_STATUS_ARCHIVED
                and not request.include_archived
                and S.EXPERIMENT_STATUS_ARCHIVED not in request.statuses
            ):
                continue
            if request.statuses and exp.status not in request.statuses:
                continue
            if request.layer_id and exp.layer_id != request.layer_id:
                continue
            if request.owner and exp.owner != request.owner:
                continue
            if request.tag and request.tag not in exp.tags:
                continue
            out.append(exp)
        return out

    async def list_layers(self) -> list[config_pb2.Layer]:
        state = await self.load()
        return [layer for layer, _ in sorted(state.layers.values(), key=lambda x: x[0].id)]

    async def occupancy(self, layer_id: str) -> control_pb2.GetLayerOccupancyResponse:
        state = await self.load()
        found = state.layers.get(layer_id)
        if found is None:
            raise NotFound(f"no layer {layer_id!r}")
        resp = control_pb2.GetLayerOccupancyResponse(layer=found[0])
        used: list[tuple[int, int]] = []
        for exp, _ in sorted(state.experiments.values(), key=lambda x: x[0].key):
            if exp.layer_id == layer_id and exp.status in HOLDS_RANGES and exp.ranges:
                resp.allocations.add(experiment_key=exp.key, ranges=exp.ranges)
                used.extend(definitions.range_tuples(exp.ranges))
        resp.free_buckets = allocation.size(allocation.free_ranges(used))
        return resp

    async def list_holdouts(self) -> list[config_pb2.Holdout]:
        state = await self.load()
        return [h for h, _ in sorted(state.holdouts.values(), key=lambda x: x[0].id)]

    async def list_audit(self, subject: str, limit: int) -> list[control_pb2.AuditRecord]:
        try:
            entries, _ = await self.store.list(keys.AUDIT)
        except StoreUnavailable as exc:
            raise Unavailable(f"cannot read audit log: {exc}") from exc
        records = []
        for entry in entries:
            record = control_pb2.AuditRecord.FromString(entry.value)
            if subject and record.subject != subject:
                continue
            record.revision = entry.mod_revision
            records.append(record)
        return records[-(limit or 100) :]

    # -------------------------------------------------------------- mutations

    async def _commit(
        self,
        actor: str,
        action: str,
        subject: str,
        before: Message | None,
        after: Message | None,
        reason: str,
        expect: dict[str, int],
        puts: dict[str, bytes],
        deletes: Iterable[str] = (),
        when: Timestamp | None = None,
    ) -> Committed:
        when = when or self._clock()
        record = control_pb2.AuditRecord(
            time=when,
            actor=actor,
            action=action,
            subject=subject,
            reason=reason,
            before_json=to_json(before),
            after_json=to_json(after),
        )
        puts = {**puts, keys.audit(when.ToNanoseconds(), uuid.uuid4().hex[:12]): record.SerializeToString()}
        try:
            revision = await self.store.commit(expect, puts, list(deletes))
        except Conflict as exc:
            raise StaleVersion(f"{subject} changed concurrently since it was read; re-read and retry") from exc
        except StoreUnavailable as exc:
            raise Unavailable(f"change not committed: {exc}") from exc
        return Committed(revision, self._clock())

    async def create_experiment(
        self, actor: str, incoming: config_pb2.Experiment, reason: str
    ) -> tuple[config_pb2.Experiment, Committed]:
        state = await self.load()
        metrics = await self.metrics()
        exp = definitions.prepare_new(incoming, state.layers.keys(), metrics.keys(), self._clock())
        if exp.key in state.experiments:
            raise AlreadyExists(f"experiment {exp.key!r} already exists")
        definitions.check_snapshot(state.with_experiment(exp))
        done = await self._commit(
            actor,
            "create",
            f"experiment/{exp.key}",
            None,
            exp,
            reason,
            {keys.experiment(exp.key): 0},
            {keys.experiment(exp.key): exp.SerializeToString()},
        )
        return exp, done

    @staticmethod
    def _check_version(exp: config_pb2.Experiment, expected: int, required: bool) -> None:
        if expected == 0 and not required:
            return
        if expected != exp.version:
            raise StaleVersion(
                f"experiment {exp.key!r} is at version {exp.version}, the request expected {expected}; "
                "re-read and retry"
            )

    async def update_experiment(
        self, actor: str, request: control_pb2.UpdateExperimentRequest
    ) -> tuple[config_pb2.Experiment, Committed, int]:
        state = await self.load()
        metrics = await self.metrics()
        stored, mod = self._find(state, request.experiment.key)
        self._check_version(stored, request.expected_version, required=True)
        if stored.status == S.EXPERIMENT_STATUS_ARCHIVED:
            raise InvalidTransition(f"experiment {stored.key!r} is archived")
        exp, moved = definitions.apply_update(
            stored,
            request.experiment,
            allow_reallocation=request.allow_reallocation,
            layers=state.layers.keys(),
            metrics=metrics.keys(),
            now=self._clock(),
        )
        definitions.check_snapshot(state.with_experiment(exp))
        action = "reallocate" if moved or exp.analysis_period != stored.analysis_period else "update"
        done = await self._commit(
            actor,
            action,
            f"experiment/{exp.key}",
            stored,
            exp,
            request.reason,
            {keys.experiment(exp.key): mod},
            {keys.experiment(exp.key): exp.SerializeToString()},
        )
        return exp, done, moved

    async def transition(
        self,
        actor: str,
        action: str,
        key: str,
        expected_version: int,
        reason: str,
        traffic_bp: int = 0,
        variant_key: str = "",
    ) -> tuple[config_pb2.Experiment, Committed]:
        """launch, ramp, pause, resume, conclude, ship, revert, archive."""
        # The layer's allocation marker is read *before* the state: any allocation
        # committed after this read changes it, so our CAS then fails instead of
        # committing ranges decided on a stale view of the layer.
        marker: int | None = None
        if action in ("launch", "ramp", "conclude"):
            try:
                head = await self.store.get(keys.experiment(key))
            except StoreUnavailable as exc:
                raise Unavailable(f"cannot read experiment: {exc}") from exc
            if head is not None:
                layer_id = config_pb2.Experiment.FromString(head.value).layer_id
                marker = await self._get_mod(keys.allocation(layer_id))
        state = await self.load()
        stored, mod = self._find(state, key)
        self._check_version(stored, expected_version, required=False)
        exp = config_pb2.Experiment()
        exp.CopyFrom(stored)
        exp.status = next_status(action, stored.status, key)  # type: ignore[assignment]
        expect = {keys.experiment(key): mod}
        puts: dict[str, bytes] = {}
        when = self._clock()
        if action in ("launch", "ramp"):
            target = traffic_bp or (exp.traffic_bp if action == "launch" else 0)
            if not 0 < target <= BUCKET_COUNT:
                raise InvalidDefinition([FieldError("traffic_bp", f"must be in 1..{BUCKET_COUNT}, got {target}")])
            others = definitions.occupied_by_others((e for e, _ in state.experiments.values()), exp.layer_id, key)
            current = definitions.range_tuples(stored.ranges) if action == "ramp" else []
            if action == "ramp" and target <= allocation.size(current):
                raise InvalidDefinition(
                    [
                        FieldError(
                            "traffic_bp",
                            f"a ramp only grows traffic: {key!r} has {allocation.size(current)} buckets, "
                            f"asked for {target}",
                        )
                    ]
                )
            try:
                ranges = allocation.ramp(current, others, target)
            except allocation.NotEnoughSpace as exc:
                raise LayerFull(
                    f"layer {exp.layer_id!r} cannot fit {key!r}: it needs {exc.wanted} more buckets "
                    f"({exc.wanted / 100:g}%) but only {exc.free} ({exc.free / 100:g}%) are free"
                ) from exc
            del exp.ranges[:]
            exp.ranges.extend(config_pb2.BucketRange(start=s, end=e) for s, e in ranges)
            exp.traffic_bp = target
            if action == "launch":
                exp.started_at.CopyFrom(when)
        elif action == "conclude":
            del exp.ranges[:]
        elif action == "ship":
            if variant_key not in [v.key for v in exp.variants]:
                raise InvalidDefinition(
                    [
                        FieldError(
                            "variant_key",
                            f"unknown variant {variant_key!r}; one of {[v.key for v in exp.variants]}",
                        )
                    ]
                )
            exp.shipped_variant = variant_key
        if marker is not None:
            expect[keys.allocation(exp.layer_id)] = marker
            puts[keys.allocation(exp.layer_id)] = key.encode()
        exp.version = stored.version + 1
        exp.updated_at.CopyFrom(when)
        definitions.check_snapshot(state.with_experiment(exp))
        puts[keys.experiment(key)] = exp.SerializeToString()
        done = await self._commit(actor, action, f"experiment/{key}", stored, exp, reason, expect, puts, when=when)
        return exp, done

    async def _get_mod(self, key: str) -> int:
        try:
            entry = await self.store.get(key)
        except StoreUnavailable as exc:
            raise Unavailable(f"cannot read {key}: {exc}") from exc
        return entry.mod_revision if entry else 0

    async def create_layer(
        self, actor: str, incoming: config_pb2.Layer, reason: str
    ) -> tuple[config_pb2.Layer, Committed]:
        state = await self.load()
        layer = config_pb2.Layer()
        layer.CopyFrom(incoming)
        layer.salt = layer.salt or layer.id
        errors = []
        if not KEY_PATTERN.match(layer.id):
            errors.append(FieldError("layer.id", f"{layer.id!r} must match {KEY_PATTERN.pattern[:-2]}"))
        if not KEY_PATTERN.match(layer.salt):
            errors.append(FieldError("layer.salt", f"{layer.salt!r} must match {KEY_PATTERN.pattern[:-2]}"))
        if errors:
            raise InvalidDefinition(errors)
        if layer.id in state.layers:
            raise AlreadyExists(f"layer {layer.id!r} already exists")
        snap = state.snapshot()
        snap.layers.append(layer)
        definitions.check_snapshot(snap)
        done = await self._commit(
            actor,
            "create",
            f"layer/{layer.id}",
            None,
            layer,
            reason,
            {keys.layer(layer.id): 0},
            {keys.layer(layer.id): layer.SerializeToString()},
        )
        return layer, done

    async def create_holdout(
        self, actor: str, incoming: config_pb2.Holdout, reason: str
    ) -> tuple[config_pb2.Holdout, Committed]:
        state = await self.load()
        holdout = config_pb2.Holdout()
        holdout.CopyFrom(incoming)
        holdout.salt = holdout.salt or holdout.id
        if holdout.id in state.holdouts:
            raise AlreadyExists(f"holdout {holdout.id!r} already exists")
        snap = state.snapshot()
        snap.holdouts.append(holdout)
        try:
            definitions.check_snapshot(snap)
        except InvalidDefinition as exc:
            raise InvalidDefinition(
                [FieldError(e.field.replace(f"holdouts[{holdout.id}]", "holdout"), e.message) for e in exc.errors]
            ) from exc
        done = await self._commit(
            actor,
            "create",
            f"holdout/{holdout.id}",
            None,
            holdout,
            reason,
            {keys.holdout(holdout.id): 0},
            {keys.holdout(holdout.id): holdout.SerializeToString()},
        )
        return holdout, done

    async def delete_holdout(self, actor: str, holdout_id: str, reason: str) -> Committed:
        state = await self.load()
        found = state.holdouts.get(holdout_id)
        if found is None:
            raise NotFound(f"no holdout {holdout_id!r}")
        # The audit record is the commit's put; the deletion rides along.
        return await self._commit(
            actor,
            "delete",
            f"holdout/{holdout_id}",
            found[0],
            None,
            reason,
            {keys.holdout(holdout_id): found[1]},
            {},
            [keys.holdout(holdout_id)],
        )

    async def put_metric(
        self, actor: str, metric: control_pb2.MetricDefinition, reason: str
    ) -> tuple[control_pb2.MetricDefinition, Committed]:
        errors = []
        if not KEY_PATTERN.match(metric.name):
            errors.append(FieldError("metric.name", f"{metric.name!r} must match {KEY_PATTERN.pattern[:-2]}"))
        if metric.kind == control_pb2.METRIC_KIND_UNSPECIFIED or metric.kind not in control_pb2.MetricKind.values():
            errors.append(FieldError("metric.kind", "must be MEAN, PROPORTION, COUNT or RATIO"))
        if not metric.events:
            errors.append(FieldError("metric.events", "name at least one outcome event"))
        if metric.kind == control_pb2.METRIC_KIND_RATIO and not metric.denominator_events:
            errors.append(FieldError("metric.denominator_events", "a RATIO metric needs denominator events"))
        if metric.guardrail_threshold < 0:
            errors.append(FieldError("metric.guardrail_threshold", "must not be negative"))
        if errors:
            raise InvalidDefinition(errors)
        key = keys.metric(metric.name)
        try:
            entry = await self.store.get(key)
        except StoreUnavailable as exc:
            raise Unavailable(f"cannot read metric: {exc}") from exc
        before = control_pb2.MetricDefinition.FromString(entry.value) if entry else None
        done = await self._commit(
            actor,
            "put",
            f"metric/{metric.name}",
            before,
            metric,
            reason,
            {key: entry.mod_revision if entry else 0},
            {key: metric.SerializeToString()},
        )
        return metric, done

    # ------------------------------------------------------------- schedules

    async def run_schedules(self, actor: str = "scheduler") -> list[str]:
        """Carry out due scheduled starts and stops; returns "action key" for each done.

        Runs on every replica; CAS makes sure each change happens once.
        """
        now = self._clock().ToNanoseconds()
        state = await self.load()
        done: list[str] = []
        for exp, _ in sorted(state.experiments.values(), key=lambda x: x[0].key):
            action = ""
            if (
                exp.status == S.EXPERIMENT_STATUS_DRAFT
                and exp.HasField("scheduled_start")
                and exp.scheduled_start.ToNanoseconds() <= now
                and exp.traffic_bp
            ):
                action = "launch"
            elif (
                exp.status in HOLDS_RANGES
                and exp.HasField("scheduled_stop")
                and exp.scheduled_stop.ToNanoseconds() <= now
            ):
                action = "conclude"
            if not action:
                continue
            try:
                await self.transition(actor, action, exp.key, exp.version, "scheduled " + action)
                done.append(f"{action} {exp.key}")
            except (StaleVersion, InvalidTransition, LayerFull, InvalidDefinition):
                continue  # another replica did it, or it cannot happen; the audit log says why
        return done
