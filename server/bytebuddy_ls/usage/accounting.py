"""Accounting: turns upstream call records into ledger rows, cost, budgets, metrics, audit.

On the event loop (``observe``, called by the inference client for every upstream call)
only dictionary lookups, a little arithmetic and a queue put happen; the SQLite ledger,
Redis, the audit file and the router's price list are handled by one background thread
that writes in batches. A problem with any of them is reported once, and the server goes
on without that part.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..log import logger, redact
from .audit import AuditEntry, AuditError, AuditLog
from .budgets import Alert, BudgetBook, Verdict, period_bounds, period_key
from .ledger import CACHE_HIT, CALL, UPTIME, Ledger, LedgerError, LedgerRow, UsageLine, read_usage
from .pricing import PriceBook, per_hour
from .team import BudgetIncrement, BudgetTotal, TeamError, TeamLedger

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig
    from ..config.schema import Config, ModelConfig
    from ..inference.client import InferenceClient
    from ..inference.records import UpstreamCall
    from .metrics import Metrics

# The thread writes what arrived at most this often, so a burst becomes one transaction.
BATCH_INTERVAL_S = 0.25
# A per-hour Endpoint is counted as running between two calls closer than this (its
# scale-to-zero delay is 15 minutes by default); a longer gap counts nothing.
UPTIME_GAP_S = 900.0
# How long a request waits for the budgets' first read of the ledger after a config load.
BUDGET_READ_WAIT_S = 2.0
# How often an idle machine reads the team's budget counters from a shared ledger.
TEAM_POLL_S = 30.0
# How often the thread checks whether the router's price list is a day old.
PRICE_CHECK_S = 3600.0

Problem = Callable[[str, str], None]  # (cause, message): shown once per cause


@dataclass(frozen=True, slots=True)
class _Entry:
    row: LedgerRow
    prompt: str | None = None
    budgets: tuple[BudgetIncrement, ...] = ()


@dataclass
class _Setup:
    """Everything the thread needs from a config."""

    retention_days: int = 90
    backend: str = "sqlite"
    audit: AuditLog | None = None
    budget_periods: list[tuple[str, str, str, float, float, list[str] | None]] = field(
        default_factory=list
    )  # (budget id, period, period key, start, end, models or None)
    book: BudgetBook | None = None  # the budgets these periods belong to


class Accounting:
    def __init__(
        self,
        *,
        state_dir: Path,
        router_base: str,
        report: Problem,
        alert: Callable[[Alert], None],
        budget_changed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = state_dir
        self.ledger_path = state_dir / "usage.sqlite3"
        self.prices = PriceBook(state_dir, router_base)
        self.budgets = BudgetBook(())
        # Set once the current budgets know this period's earlier spend (see budgets_known).
        self._budgets_read = threading.Event()
        self._budgets_read.set()
        self.metrics: Metrics | None = None
        self._report = report
        self._alert = alert
        self._budget_changed = budget_changed
        self._clock = clock
        self._models: dict[str, ModelConfig] = {}
        self._audit_on = False
        self._team_on = False
        self._team_down = False
        self._last_seen: dict[str, float] = {}
        self._fetching = False
        self._needs_router = False
        self._queue: queue.SimpleQueue[_Entry | Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: Any = None
        # Owned by the thread:
        self._ledger: Ledger | None = None
        self._ledger_failed = False
        self._team: TeamLedger | None = None
        self._audit: AuditLog | None = None
        self._setup = _Setup()
        self.team_poll_s = TEAM_POLL_S

    # ----- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        import asyncio

        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="bytebuddy-accounting", daemon=True)
        self._thread.start()
        self._queue.put(self._open_ledger)

    def configure(self, loaded: LoadedConfig | None) -> None:
        """Apply a (re)loaded config: prices, budgets, audit, backend."""
        config: Config | None = loaded.config if loaded is not None else None
        self._models = {m.name: m for m in config.models} if config else {}
        origin = loaded.origin if loaded is not None else "your config"
        self.budgets = BudgetBook(
            config.budgets if config else (), config_origin=origin, clock=self._clock
        )
        setup = _Setup(book=self.budgets)
        self._budgets_read = threading.Event()
        if self.budgets.empty:
            self._budgets_read.set()
        if config is not None:
            setup.retention_days = config.usage.retentionDays
            setup.backend, setup.audit = self._trusted_parts(loaded, config)
            now = self._clock()
            for bid in self.budgets.ids():
                budget = self.budgets.budget(bid)
                start, end = period_bounds(budget.period, now)
                key = time.strftime(
                    "%Y-%m-%d" if budget.period == "day" else "%Y-%m", time.localtime(now)
                )
                models = [budget.model] if budget.model else None
                setup.budget_periods.append((bid, budget.period, key, start, end, models))
        self._needs_router = config is not None and any(
            self.prices.needs_router(m) for m in config.models
        )
        self.refresh_prices()
        self._audit_on = setup.audit is not None
        self._team_on = setup.backend != "sqlite"
        self._team_down = False
        self._queue.put(lambda: self._apply_setup(setup, now=self._clock()))
        self._budget_changed()

    def _trusted_parts(
        self, loaded: LoadedConfig | None, config: Config
    ) -> tuple[str, AuditLog | None]:
        """The audit path and the shared backend decide where data is written or sent:
        a config that came with a repository does not get to choose them."""
        backend, audit = config.usage.backend, None
        # A repository's config the user has not trusted (config.trust).
        from_repo = loaded is not None and not loaded.trusted
        if from_repo and (backend != "sqlite" or config.audit is not None):
            self._report(
                "usage:workspace",
                "The workspace config sets 'audit' or 'usage.backend'; they are honoured only "
                "in your own config (~/.bytebuddy/config.yaml or --config) or once you trust "
                "this one, so it cannot choose where usage data goes. Ignored.",
            )
            return "sqlite", None
        if config.audit is not None:
            base = loaded.path.parent if loaded is not None and loaded.path else None
            audit = AuditLog(config.audit, base)
        return backend, audit

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued and stop the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout_s)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until everything queued so far is written (tests, the CLI, shutdown)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done.set)
        return done.wait(timeout_s)

    # ----- the event-loop side -------------------------------------------------------

    def observe(self, call: UpstreamCall) -> None:
        """The inference client's observer: never raises, never blocks."""
        try:
            self._observe(call, call.prompt)
        except Exception:  # accounting must never break a request
            logger.exception("usage accounting failed for a call to '%s'", call.model)

    def _observe(self, call: UpstreamCall, prompt: str | None) -> None:
        model = self._models.get(call.model)
        price = self.prices.price(model, call.provider)
        cost = price.cost(call.prompt_tokens, call.completion_tokens) if price else 0.0
        row = LedgerRow(
            call.started,
            call.model,
            call.model_id,
            call.provider,
            call.role,
            call.operation,
            call.prompt_tokens,
            call.completion_tokens,
            call.estimated,
            call.latency_s,
            call.ttft_s,
            call.outcome,
            call.finish_reason,
            cost,
            CALL,
        )
        if self.metrics is not None:
            self.metrics.observe(call, cost)
        self._account(row, prompt if self._audit_on else None)
        hourly = per_hour(model)
        if hourly and call.outcome == "ok":
            self._uptime(call, hourly)

    def _account(self, row: LedgerRow, prompt: str | None = None) -> None:
        tokens = row.prompt_tokens + row.completion_tokens
        increments: tuple[BudgetIncrement, ...] = ()
        alerts: list[Alert] = []
        if not self.budgets.empty and (tokens or row.cost_usd):
            if self._team_on:
                increments = tuple(
                    BudgetIncrement(bid, key, self.budgets.budget(bid).period, t, usd)
                    for bid, key, t, usd in self.budgets.increments(row.model, tokens, row.cost_usd)
                )
            alerts = self.budgets.add(row.model, tokens, row.cost_usd)
            if self._team_on and not self._team_down:
                alerts = []  # the shared counter decides (see _team_totals)
        self._queue.put(_Entry(row, prompt, increments))
        if increments or alerts or (not self.budgets.empty and tokens):
            self._budget_changed()
        for alert in alerts:
            self._alert(alert)

    def _uptime(self, call: UpstreamCall, hourly: float) -> None:
        now = call.started + call.latency_s
        last = self._last_seen.get(call.model)
        self._last_seen[call.model] = now
        if last is None or not 0 < now - last <= UPTIME_GAP_S:
            return
        cost = (now - last) * hourly / 3600
        self._account(
            LedgerRow(
                now,
                call.model,
                call.model_id,
                call.provider,
                call.role,
                "uptime",
                0,
                0,
                True,
                0.0,
                None,
                "ok",
                None,
                cost,
                UPTIME,
            )
        )

    def cache_hit(self, model: str, role: str = "autocomplete") -> None:
        """A suggestion served from the cache: no upstream call, no cost."""
        try:
            if self.metrics is not None:
                self.metrics.cache_hit(model)
            served = self._models.get(model)
            self._queue.put(
                _Entry(
                    LedgerRow(
                        self._clock(),
                        model,
                        served.model if served else model,
                        "cache",
                        role,
                        role,
                        0,
                        0,
                        False,
                        0.0,
                        None,
                        "ok",
                        None,
                        0.0,
                        CACHE_HIT,
                    )
                )
            )
        except Exception:
            logger.exception("usage accounting failed for a cache hit")

    def govern(self, client: InferenceClient) -> None:
        """Account for every upstream call ``client`` makes, and let the budgets hold its
        requests until they are known and refuse them once used up: the one wiring, for
        the server and the CLI alike."""
        client.add_observer(self.observe)
        client.refusal = lambda model, role: self.refusal(model.name, role)
        client.budgets_known = self.budgets_known

    def verdict(self, model: str, role: str) -> Verdict | None:
        """Whether a used-up budget stops this request."""
        return self.budgets.verdict(model, role)

    def refusal(self, model: str, role: str) -> str | None:
        """The message that stops a request to ``model`` for ``role``, or None."""
        verdict = self.budgets.verdict(model, role)
        return verdict.message if verdict is not None else None

    async def budgets_known(self, timeout_s: float = BUDGET_READ_WAIT_S) -> None:
        """Returns once the budgets know this period's earlier spend (read from the ledger
        on the accounting thread after each config load), so the first request after a
        start cannot slip past a budget used up in an earlier session. Waits at most
        ``timeout_s`` (a slow shared ledger delays requests no longer than that).
        The event is looked up afresh each time: a config load meanwhile replaces it, and
        the replaced one is never set."""
        if self._budgets_read.is_set():
            return
        import asyncio

        deadline = time.monotonic() + timeout_s
        while not self._budgets_read.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def budget_status(self) -> dict[str, object] | None:
        """The status's budget figure; None until the ledger's earlier spend is read, so an
        editor never shows "0 %" for a budget an earlier session used up."""
        if not self._budgets_read.is_set():
            return None
        return self.budgets.status()

    async def usage(self, since: float, by: str = "model") -> list[UsageLine]:
        """The report for ``bytebuddy/usage``: the team's when a shared ledger is set up
        and reachable, else this machine's."""
        import asyncio

        await asyncio.to_thread(self.flush)
        if self._team_on and not self._team_down:
            done: asyncio.Future[list[UsageLine]] = asyncio.get_running_loop().create_future()
            loop = asyncio.get_running_loop()

            def read() -> None:
                try:
                    if self._team is None:
                        raise TeamError("Redis is not connected")
                    lines = self._team.read_usage(since, by)
                    loop.call_soon_threadsafe(_settle, done, lines, None)
                except (TeamError, ValueError) as exc:
                    loop.call_soon_threadsafe(_settle, done, None, exc)

            self._queue.put(read)
            try:
                return await done
            except TeamError:
                pass
        return await asyncio.to_thread(read_usage, self.ledger_path, since, by)

    # ----- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                items = [
                    self._queue.get(timeout=self.team_poll_s if self._team else PRICE_CHECK_S)
                ]
            except queue.Empty:
                self._poll_team()
                self.refresh_prices()  # a no-op while the list is fresh
                continue
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._queue.get_nowait())
            batch: list[_Entry] = []
            for item in items:  # in order: a task sees every entry queued before it
                if isinstance(item, _Entry):
                    batch.append(item)
                    continue
                self._write(batch)
                batch = []
                if item is None:
                    self._shutdown()
                    return
                try:
                    item()
                except Exception:
                    logger.exception("usage accounting task failed")
            self._write(batch)
            if batch:
                time.sleep(BATCH_INTERVAL_S)  # let the next burst gather

    def _write(self, batch: list[_Entry]) -> None:
        if not batch:
            return
        rows = [entry.row for entry in batch]
        if self._ledger is not None:
            try:
                self._ledger.write(rows)
            except LedgerError as exc:
                self._ledger_problem(exc)
        if self._team is not None:
            increments = [inc for entry in batch for inc in entry.budgets]
            try:
                totals = self._team.add(rows, increments)
            except TeamError as exc:
                self._team_problem(exc)
            else:
                self._team_back()
                if totals:
                    self._to_loop(self._team_totals, totals)
        if self._audit is not None:
            try:
                self._audit.write(
                    [AuditEntry(e.row, e.prompt) for e in batch if e.row.kind == CALL]
                )
            except AuditError as exc:
                self._audit = None
                self._to_loop(self._report, "usage:audit", str(exc))

    def _open_ledger(self) -> None:
        ledger = Ledger(self.ledger_path)
        try:
            ledger.open()
        except LedgerError as exc:
            self._ledger_problem(exc)
            return
        self._ledger = ledger

    def _ledger_problem(self, exc: LedgerError) -> None:
        if self._ledger is not None:
            self._ledger.close()
        self._ledger = None
        self._ledger_failed = True
        self._to_loop(self._report, "usage:ledger", str(exc))

    def _team_problem(self, exc: TeamError) -> None:
        if not self._team_down:
            self._team_down = True
            self._to_loop(
                self._report,
                "usage:redis",
                f"{redact(str(exc))}: usage and budgets are counted on this machine until it "
                "answers again",
            )

    def _team_back(self) -> None:
        if self._team_down:
            self._team_down = False
            logger.info("the shared usage ledger answers again")

    def _apply_setup(self, setup: _Setup, now: float) -> None:
        self._setup = setup
        if self._ledger is not None:
            self._ledger.retention_days = setup.retention_days
        self._audit = setup.audit
        if self._team is not None and (
            setup.backend == "sqlite" or setup.backend != self._team.url
        ):
            self._team.close()
            self._team = None
        if setup.backend != "sqlite" and self._team is None:
            try:
                self._team = TeamLedger(setup.backend, retention_days=setup.retention_days)
            except TeamError as exc:
                self._team_problem(exc)
        self._load_budgets(setup, now)

    def _poll_team(self) -> None:
        if self._team is None or not self._setup.budget_periods:
            return
        now = time.time()
        wanted = [(bid, period_key(period, now)) for bid, period, *_ in self._setup.budget_periods]
        try:
            totals = self._team.budget_totals(wanted)
        except TeamError as exc:
            self._team_problem(exc)
            return
        self._team_back()
        self._to_loop(self._team_polled, [(*pair, *totals[pair]) for pair in wanted])

    def _load_budgets(self, setup: _Setup, now: float) -> None:
        """Spend of the current periods before ``now``: from Redis (the team's) when
        shared, else from the local ledger."""
        loaded: list[tuple[str, str, float, float]] = []
        if self._team is not None:
            try:
                totals = self._team.budget_totals(
                    (bid, key) for bid, _, key, *_ in setup.budget_periods
                )
                loaded = [
                    (bid, key, *totals[(bid, key)]) for bid, _, key, *_ in setup.budget_periods
                ]
            except TeamError as exc:
                self._team_problem(exc)
        if not loaded and self._ledger is not None:
            try:
                for bid, _period, key, start, _end, models in setup.budget_periods:
                    spend = self._ledger.spent_since(start, now, models)
                    loaded.append((bid, key, float(spend.tokens), spend.usd))
            except LedgerError as exc:
                self._ledger_problem(exc)
        # Called back even with nothing read (ledger unusable): requests waiting in
        # budgets_known go on with what is known.
        self._to_loop(self._budgets_loaded, setup.book, loaded)

    def refresh_prices(self) -> None:
        """Load the saved price list, and fetch the router's when it is a day old; on its
        own thread, so a slow router delays nothing. Only configs with router models
        (without their own ``pricing``) need it; the server calls this daily."""
        if not self._needs_router or self._fetching or not self.prices.stale:
            return
        self._fetching = True
        threading.Thread(target=self._refresh_prices, name="bytebuddy-prices", daemon=True).start()

    def _refresh_prices(self) -> None:
        self.prices.load_cached()
        if not self.prices.stale:
            return
        try:
            self.prices.fetch()
        except Exception as exc:  # offline, or the router answers something else
            logger.info(
                "router prices not fetched (%s); costs use cached or config prices",
                redact(str(exc)) or type(exc).__name__,
            )

    def _shutdown(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._team is not None:
            self._team.close()

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fn, *args)

    # ----- back on the loop ----------------------------------------------------------

    def _budgets_loaded(
        self, book: BudgetBook | None, loaded: list[tuple[str, str, float, float]]
    ) -> None:
        if book is not self.budgets:
            return  # the config changed again meanwhile; a newer load follows
        for bid, key, tokens, usd in loaded:
            self.budgets.load(bid, key, tokens, usd)
        self._budgets_read.set()
        self._budget_changed()  # the figure is known now, even when nothing was spent

    def _team_polled(self, totals: list[tuple[str, str, float, float]]) -> None:
        for bid, key, tokens, usd in totals:
            self.budgets.team_total(bid, key, tokens, usd, 0.0, 0.0)
        self._budget_changed()

    def _team_totals(self, totals: list[BudgetTotal]) -> None:
        for total in totals:
            alert = self.budgets.team_total(
                total.budget_id,
                total.period_key,
                total.tokens,
                total.usd,
                total.added_tokens,
                total.added_usd,
            )
            if alert is not None:
                self._alert(alert)
        self._budget_changed()


def _settle(future: Any, value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
