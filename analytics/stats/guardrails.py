"""The guardrail worker: look every few minutes, pause a harmful experiment, raise alarms.

Decision logic (`evaluate`) is pure: reports in, actions out. Looking every five minutes is
valid only because guardrail cells are decided by the mSPRT (see decisions.py): a BREACH means the
confidence sequence excludes every degradation up to the metric's tolerated threshold. A breach
pauses the experiment through the control plane's `PauseExperiment` with the evidence as the
reason, so the audit log says why. An SRM raises an alarm (results are untrustworthy, including
the guardrails, so it does not pause by itself); so does pipeline output older than `max_lag`.

`Worker` is the thin I/O shell: the control plane (gRPC, bearer token), the Parquet output and a
clock, each injected so tests can replace them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from splitline.analytics.stats.decisions import Decision
from splitline.analytics.stats.model import AnalysisConfig
from splitline.analytics.stats.pipeline import ExperimentMeta, inputs_from_rows
from splitline.analytics.stats.report import ExperimentReport, run

log = logging.getLogger("splitline.guardrails")

DEFAULT_INTERVAL_S = 300.0
DEFAULT_MAX_LAG_S = 3600.0


@dataclass(frozen=True)
class Pause:
    key: str
    expected_version: int
    reason: str


@dataclass(frozen=True)
class Alarm:
    kind: str  # "SRM" | "LAG"
    key: str  # experiment key ("" for pipeline-wide alarms)
    message: str


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.2f}%"


def breach_reason(report: ExperimentReport) -> str | None:
    """The evidence for a pause, or None when no guardrail is breached."""
    parts = []
    for c in report.cells:
        if c.decision != Decision.BREACH.name:
            continue
        v = c.values
        thr = f", tolerated {100 * v['guardrail_threshold']:.2f}%"
        parts.append(
            f"guardrail {c.metric} degraded in {c.variant}: relative effect {_pct(v['rel_effect'])} "
            f"(95% confidence sequence [{_pct(v['rel_cs_low'])}, {_pct(v['rel_cs_high'])}]{thr}), "
            f"mSPRT p={v['seq_p_value']:.3g}, n={int(v['n_treatment'])} vs {int(v['n_control'])}")
    if not parts:
        return None
    when = f" as of {report.as_of}" if report.as_of else ""
    return f"splitline guardrails{when}: " + "; ".join(parts)


def evaluate(reports: Sequence[ExperimentReport], metas: Mapping[str, ExperimentMeta],
             *, data_age_s: float | None, max_lag_s: float = DEFAULT_MAX_LAG_S) -> list[Pause | Alarm]:
    """Actions for one look: pauses for breached guardrails, alarms for SRM and pipeline lag."""
    actions: list[Pause | Alarm] = []
    if data_age_s is None:
        actions.append(Alarm("LAG", "", "no pipeline output found"))
    elif data_age_s > max_lag_s:
        actions.append(Alarm("LAG", "", f"pipeline output is {data_age_s:.0f}s old (max {max_lag_s:.0f}s)"))
    for r in reports:
        if r.srm["blocked"]:
            actions.append(Alarm("SRM", r.key, next(a for a in r.alarms if a.startswith("SRM"))))
            continue
        reason = breach_reason(r)
        meta = metas.get(r.key)
        if reason is not None and meta is not None:
            actions.append(Pause(key=r.key, expected_version=meta.version, reason=reason))
    return actions


class ControlPlane(Protocol):
    def running_experiments(self) -> dict[str, ExperimentMeta]: ...
    def pause(self, action: Pause) -> None: ...


class GrpcControlPlane:
    """ExperimentService/MetricService over gRPC with `authorization: Bearer <token>`."""

    def __init__(self, target: str, token: str, *, timeout_s: float = 10.0) -> None:
        import grpc
        from splitline.v1 import control_pb2_grpc

        self._channel = grpc.insecure_channel(target)
        self._md = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_s
        self._exp = control_pb2_grpc.ExperimentServiceStub(self._channel)
        self._metrics = control_pb2_grpc.MetricServiceStub(self._channel)

    def running_experiments(self) -> dict[str, ExperimentMeta]:
        from splitline.analytics.stats.pipeline import meta_from_proto
        from splitline.v1 import config_pb2, control_pb2

        defs = self._metrics.ListMetrics(control_pb2.ListMetricsRequest(), metadata=self._md,
                                         timeout=self._timeout)
        by_name = {m.name: m for m in defs.metrics}
        resp = self._exp.ListExperiments(
            control_pb2.ListExperimentsRequest(statuses=[config_pb2.EXPERIMENT_STATUS_RUNNING]),
            metadata=self._md, timeout=self._timeout)
        return {e.key: meta_from_proto(e, by_name) for e in resp.experiments}

    def experiment(self, key: str) -> dict[str, ExperimentMeta]:
        """Metadata of one experiment (any status), for `splitline results`."""
        from splitline.analytics.stats.pipeline import meta_from_proto
        from splitline.v1 import control_pb2

        defs = self._metrics.ListMetrics(control_pb2.ListMetricsRequest(), metadata=self._md,
                                         timeout=self._timeout)
        resp = self._exp.GetExperiment(control_pb2.GetExperimentRequest(key=key), metadata=self._md,
                                       timeout=self._timeout)
        return {key: meta_from_proto(resp.experiment, {m.name: m for m in defs.metrics})}

    def pause(self, action: Pause) -> None:
        from splitline.v1 import control_pb2

        self._exp.PauseExperiment(control_pb2.PauseExperimentRequest(
            key=action.key, expected_version=action.expected_version, reason=action.reason[:2000]),
            metadata=self._md, timeout=self._timeout)

    def close(self) -> None:
        self._channel.close()


@dataclass
class Worker:
    control: ControlPlane
    data_path: str
    config: AnalysisConfig
    max_lag_s: float = DEFAULT_MAX_LAG_S
    clock: Callable[[], float] = time.time
    alarm_sink: Callable[[Alarm], None] | None = None

    def tick(self) -> list[Pause | Alarm]:
        """One look: read, analyse the guardrails of every running experiment, act."""
        from splitline.analytics.stats.pipeline import load_rows, newest_mtime

        metas = self.control.running_experiments()
        mtime = newest_mtime(self.data_path)
        rows: dict[str, list[Any]] = load_rows(self.data_path, metas.keys()) if metas else {}
        inputs = inputs_from_rows(rows, metas, only_known_metrics=True) if rows else []
        # every running experiment is analysed (its SRM raises an alarm); only guardrail cells pause
        reports = run(inputs, self.config) if inputs else []
        actions = evaluate(reports, metas, data_age_s=None if mtime is None else self.clock() - mtime,
                           max_lag_s=self.max_lag_s)
        for a in actions:
            if isinstance(a, Pause):
                try:
                    self.control.pause(a)
                    log.warning("paused %s: %s", a.key, a.reason)
                except Exception as exc:  # one failed pause must not stop the others
                    log.error("could not pause %s: %s", a.key, exc)
            else:
                log.warning("ALARM %s %s: %s", a.kind, a.key, a.message)
                if self.alarm_sink is not None:
                    self.alarm_sink(a)
        return actions

    def run_forever(self, interval_s: float = DEFAULT_INTERVAL_S,
                    sleep: Callable[[float], None] = time.sleep) -> None:
        while True:
            started = self.clock()
            try:
                self.tick()
            except Exception:
                log.exception("guardrail look failed; retrying next interval")
            sleep(max(0.0, interval_s - (self.clock() - started)))
