/**
 * Per-second figures of a wrk run, for the failover timelines (lab/timeline.ts). wrk itself
 * reports totals only; its Lua hooks see each request written and each answer read, but not
 * which connection it belongs to, and a socket error (reset, timeout) has no hook at all.
 *
 * What the script counts, per wrk thread and second of the client's clock: requests written,
 * answers, answers with status > 399 (what wrk counts as non-2xx/3xx), and requests lost. A
 * request never answered (its connection reset, or stalled) stays in `written − answered` for
 * good; one merely in flight leaves it again. So after every answer the script notes that
 * difference, and at the end the lowest value noted from each answer on is the number lost
 * until then (in flight: nothing, as the connections are idle at that moment): where it
 * grows, requests were lost, counted in the second of that answer — the first one after the
 * last idle moment before the loss, milliseconds after it with the scenarios' load, which
 * pauses 20 ms between requests. A loss among a thread's last 10 answers is not seen (wrk does
 * not count requests in flight at its end either).
 */

/** The Lua script for `wrk -s`: the pause (wrk's delay hook) and the counters, printed by done(). */
export function wrkSecondsScript(pauseMs: number): string {
  return [
    "-- maglev-infra lab: per-second counters for the failover timelines (lab/load-seconds.ts).",
    "local threads = {}",
    // wrk 4.1 calls request() once in the first thread's state before it runs, to check the
    // request: that one is never written, so it must not count.
    "function setup(thread)",
    "  table.insert(threads, thread)",
    '  if #threads == 1 then thread:set("unsent", 1) end',
    "end",
    // Per thread: counts by second, and (second, written − answered) after each answer.
    "sent, answered, bad, at_s, at_d = {}, {}, {}, {}, {}",
    "unsent = 0",
    "local open = 0",
    "function request()",
    "  if unsent > 0 then unsent = unsent - 1; return wrk.format() end",
    "  local s = os.time()",
    "  sent[s] = (sent[s] or 0) + 1",
    "  open = open + 1",
    "  return wrk.format()",
    "end",
    "function response(status, headers, body)",
    "  local s = os.time()",
    "  answered[s] = (answered[s] or 0) + 1",
    "  if status > 399 then bad[s] = (bad[s] or 0) + 1 end",
    "  open = open - 1",
    "  local n = #at_s + 1",
    "  at_s[n] = s",
    "  at_d[n] = open",
    "end",
    ...(pauseMs > 0 ? [`function delay() return ${Math.round(pauseMs)} end`] : []),
    "function done(summary, latency, requests)",
    "  for i, t in ipairs(threads) do",
    '    local se, an, ba = t:get("sent") or {}, t:get("answered") or {}, t:get("bad") or {}',
    '    local ss, dd = t:get("at_s") or {}, t:get("at_d") or {}',
    // The lowest difference from each answer on; where it grows, the loss is counted.
    // The suffix minimum only sees idle moments it has answers for: at the very end, requests
    // still in flight on the thread's other connections would count as lost (seen: 7 "failed"
    // in the last second of a run wrk counted 0 errors in). So nothing above the lowest
    // difference of the thread's last 10 answers counts (a loss among them is not seen).
    "    local tail = math.huge",
    "    for k = #dd, math.max(1, #dd - 9), -1 do",
    "      if dd[k] < tail then tail = dd[k] end",
    "    end",
    "    local low, m = {}, tail",
    "    for k = #dd, 1, -1 do",
    "      if dd[k] < m then m = dd[k] end",
    "      low[k] = m",
    "    end",
    "    local lost, before = {}, 0",
    "    for k = 1, #dd do",
    "      if low[k] > before then lost[ss[k]] = (lost[ss[k]] or 0) + low[k] - before; before = low[k] end",
    "    end",
    "    local seconds = {}",
    "    for s in pairs(se) do seconds[s] = true end",
    "    for s in pairs(an) do seconds[s] = true end",
    "    for s in pairs(seconds) do",
    '      io.write(string.format("PERSEC %d %d %d %d %d %d\\n", i, s, se[s] or 0, an[s] or 0, ba[s] or 0, lost[s] or 0))',
    "    end",
    "  end",
    "end",
    "",
  ].join("\n");
}

/** One second of one wrk run (all its threads), on the client's clock. */
export interface WrkSecond {
  /** Unix time, seconds, of the client guest. */
  second: number;
  written: number;
  /** Answers with status < 400. */
  ok: number;
  /** Answers with status > 399 plus requests lost in this second (see the module comment). */
  failed: number;
}

/** The script's PERSEC lines of one wrk run as seconds (its threads summed, sorted); empty when there are none. */
export function parseWrkSeconds(out: string): WrkSecond[] {
  const bySecond = new Map<number, WrkSecond>();
  for (const m of out.matchAll(/^PERSEC \d+ (\d+) (\d+) (\d+) (\d+) (\d+)$/gm)) {
    const [second, sent, answered, bad, lost] = m.slice(1).map(Number);
    const s = bySecond.get(second) ?? { second, written: 0, ok: 0, failed: 0 };
    s.written += sent;
    s.ok += answered - bad;
    s.failed += bad + lost;
    bySecond.set(second, s);
  }
  return [...bySecond.values()].sort((a, b) => a.second - b.second);
}
