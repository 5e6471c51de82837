"""The training-loop subscriber: records the selected groups at the spec's steps into RUN_DIR/records.zarr.

    rec = Recorder("every=log:500 what=loss,head_scores", run_dir)
    trainer.subscribe(rec)      # on_train_start, on_after_backward, on_step_end, on_checkpoint, on_train_end

Only rank 0 (`state.is_main`) records; its gradients are the synchronised ones. Records are
buffered and written by the store's background writer in blocks; `on_checkpoint` flushes and
waits, so a checkpoint never claims a step whose records are not on disk. On resume from step S
the store is cut back to steps <= S, so after any crash each recorded step is there exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from recorders.capture import collect
from recorders.groups import GroupRecorder, RecordContext, build_groups
from recorders.item_probe import item_probe_for_run
from recorders.probe import Probe, build_probe
from recorders.spec import RecordSpec, parse_spec
from recorders.store import Coord, StoreWriter, VarMeta

__all__ = ["Recorder", "make_probe"]

log = logging.getLogger(__name__)


class Recorder:
    """Subscriber that measures the model at record steps. Raises ValueError (one line) for a malformed spec.

    `url`: where the store lives (any URL zarr and fsspec accept); default RUN_DIR/records.zarr.
    `data`: the run's prepared data (`seedling.data.PreparedData`: `.val` token ids and
    `.tokenizer`); the natural probe sequences are windows of its validation split, and their text
    is stored. Without it the natural probe is seeded random tokens.
    """

    def __init__(
        self,
        spec: str,
        run_dir: Path | str,
        url: str | None = None,
        data: Any = None,
        block_size: int = 64,
    ) -> None:
        self.spec: RecordSpec = parse_spec(spec)
        self.url = url if url is not None else str(Path(run_dir) / "records.zarr")
        self.data = data
        self.block_size = block_size
        self.probe: Probe | None = None
        self.groups: list[GroupRecorder] = []
        self.meta: dict[str, dict[str, VarMeta]] = {}
        self.coords: dict[str, dict[str, Coord]] = {}
        self.writer: StoreWriter | None = None
        self._before: dict | None = None  # parameters before the record step's update, for groups that need them

    @property
    def active(self) -> bool:
        return self.writer is not None

    # ---- training-loop events -------------------------------------------------------------
    def on_train_start(self, state: Any) -> None:
        if not self.spec.enabled or not getattr(state, "is_main", True):
            return
        model, cfg = state.model, state.model.cfg
        self.probe = self._build_probe(cfg, state)
        self.groups = build_groups(self.spec.what, self.probe)
        self.meta = {g.group: g.variables(model, self.probe) for g in self.groups}
        self.coords = {g.group: g.coords(model, self.probe) for g in self.groups}
        config = state.config.to_dict() if hasattr(state.config, "to_dict") else {}
        self.writer = StoreWriter(self.url, root_attrs={"config": config, "record_spec": _spec_attrs(self.spec)},
                                  block_size=self.block_size, background=True)
        # A resumed run drops records after its checkpoint step (the crashed run wrote past it);
        # a fresh run drops everything (a run that crashed before its first checkpoint).
        self.writer.truncate_after(state.step if state.step > 0 else -1)
        self.writer.write_static("probe", self.probe.static_arrays(), self.probe.static_meta(), attrs=self.probe.attrs())
        if state.step == 0 and self.spec.is_record_step(0):
            self._record(state)
        log.info("recording %s to %s", ",".join(self.spec.what), self.url)

    def on_after_backward(self, state: Any) -> None:
        if self.active and self.spec.is_record_step(state.step + 1):
            for g in self.groups:
                g.after_backward(state.model)
            if any(g.needs_before for g in self.groups):  # one copy shared by every group that needs it
                self._before = {n: p.detach().clone() for n, p in state.model.named_parameters()}

    def on_step_end(self, state: Any) -> None:
        if self.active and self.spec.is_record_step(state.step):
            self._record(state)

    def on_checkpoint(self, state: Any) -> None:
        if self.active:
            self.writer.flush(wait=True)

    def on_train_end(self, state: Any) -> None:
        if self.active:
            writer, self.writer = self.writer, None
            writer.close()

    # ---- internals ------------------------------------------------------------------------
    def _build_probe(self, cfg: Any, state: Any) -> Probe:
        tokenizer = getattr(self.data, "tokenizer", None) or getattr(state, "tokenizer", None)
        probe = make_probe(self.spec, cfg, getattr(self.data, "val", None), tokenizer)
        if "constructs" in self.spec.what:
            source = getattr(getattr(state.config, "data", None), "source", "")
            probe = replace(probe, items=item_probe_for_run(self.spec.items, source, tokenizer, cfg.n_ctx))
        return probe

    def _record(self, state: Any) -> None:
        before, self._before = self._before, None
        records = collect(self.groups, RecordContext(state.model, self.probe, state, before))
        for g in self.groups:
            if g.group in records:
                self.writer.append(g.group, int(state.step), records[g.group], self.meta[g.group],
                                   attrs=g.group_attrs(self.probe), coords=self.coords[g.group])


def make_probe(spec: RecordSpec, cfg: Any, val: Any = None, tokenizer: Any = None) -> Probe:
    """The probe a run with record spec `spec` and model config `cfg` measures on (training and replay alike).

    `val`: the validation token ids (natural probe windows and the random tokens' alphabet come
    from them); `tokenizer`: decodes the natural probe's text when `val` is given.
    """
    decode = tokenizer.decode if val is not None and hasattr(tokenizer, "decode") else None
    length = min(spec.probe_len or cfg.n_ctx, cfg.n_ctx)
    if spec.probe_len and spec.probe_len > cfg.n_ctx:
        log.warning("record spec probe_len=%d exceeds the model's context; using n_ctx=%d", spec.probe_len, cfg.n_ctx)
    return build_probe(spec.probe, length, cfg.d_vocab, spec.seed, spec.sample, val_tokens=val, decode=decode)


def _spec_attrs(spec: RecordSpec) -> dict[str, Any]:
    return {"every": spec.every, "log": spec.log, "what": list(spec.what), "probe": spec.probe,
            "probe_len": spec.probe_len, "sample": spec.sample, "seed": spec.seed, "items": spec.items}
