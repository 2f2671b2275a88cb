using System.Text;
using Clarity.Events;
using Clarity.Hosting;
using Clarity.Hosting.Telemetry;
using Clarity.Storage;
using Microsoft.Extensions.Options;

namespace Clarity.Features.Logs;

public sealed class LogService(LogStore store, Changes changes, ClarityMetrics metrics, IOptions<ClarityOptions> options, TimeProvider clock)
{
    public async Task<AppendLogsResult> AppendAsync(OrgContext org, Guid taskId, IReadOnlyList<LogLineInput?>? input, CancellationToken ct)
    {
        var limits = options.Value.Limits;
        if (input is null || input.Count == 0)
        {
            throw Problems.Validation("body", "send a JSON array of one or more log lines: [{\"text\": \"…\"}].");
        }

        if (input.Count > limits.MaxLogBatchLines)
        {
            throw Problems.TooLarge($"A batch may hold at most {limits.MaxLogBatchLines} lines; this one has {input.Count}.");
        }

        var now = DbTime.ToDb(clock.GetUtcNow());
        var lines = new LogLine[input.Count];
        for (var i = 0; i < input.Count; i++)
        {
            var line = input[i] ?? throw Problems.Validation($"[{i}]", "must be an object.");
            if (line.Text is null)
            {
                throw Problems.Validation($"[{i}].text", "is required.");
            }

            if (Encoding.UTF8.GetByteCount(line.Text) > limits.MaxLogLineBytes)
            {
                throw Problems.TooLarge($"Line [{i}] is longer than the {limits.MaxLogLineBytes}-byte limit for one log line.");
            }

            var level = (line.Level ?? "info").ToLowerInvariant();
            if (!LogLevels.All.Contains(level))
            {
                throw Problems.Validation($"[{i}].level", $"must be one of {string.Join(", ", LogLevels.All)}.");
            }

            var stream = line.Stream ?? "stdout";
            if (stream.Length is 0 or > 32 || !stream.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw Problems.Validation($"[{i}].stream", "must be 1-32 letters, digits, '-', '_' or '.' (for example stdout or stderr).");
            }

            // PostgreSQL text cannot store U+0000; keep the line and show where the NUL was.
            var text = line.Text.Contains('\0', StringComparison.Ordinal) ? line.Text.Replace('\0', '\uFFFD') : line.Text;
            lines[i] = new LogLine(line.Ts is { } ts ? DbTime.ToDb(ts) : now, level, stream, text);
        }

        var (status, first, last) = await changes.RunAsync(org.Caller.Actor, async change =>
        {
            var appended = await store.AppendAsync(change, org.OrgId, taskId, lines);
            if (appended.Status == LogStore.AppendStatus.Appended)
            {
                change.Emit(new LogsAppended(org.OrgId, taskId, appended.FirstSeq, appended.LastSeq));
            }

            return appended;
        }, ct);
        switch (status)
        {
            case LogStore.AppendStatus.TaskNotFound:
                throw Problems.NotFound("Task");
            case LogStore.AppendStatus.TaskFinished:
                throw Problems.Conflict("task-finished", "The task has finished; its log is closed.");
        }

        metrics.LogLinesIngested(org, lines.Length);
        return new AppendLogsResult(first, last, lines.Length);
    }

    /// <summary>
    /// A page of the task's log after <paramref name="afterSeq"/>, to be written to the response as it is read (see
    /// <see cref="LogPageResult"/>). Bad parameters and an unknown task are refused here, before the first byte.
    /// </summary>
    public async Task<LogPageResult> ReadAsync(OrgContext org, Guid taskId, long? afterSeq, int? limit, CancellationToken ct)
    {
        var after = afterSeq ?? 0;
        if (after < 0)
        {
            throw Problems.Validation("afterSeq", "must be zero or more.");
        }

        var take = Check.Range(limit, "limit", 1, 10_000, 1_000);
        var chunks = store.ReadChunksAsync(org.OrgId, taskId, after, take, ct).GetAsyncEnumerator(ct);
        var started = false;
        try
        {
            started = await chunks.MoveNextAsync();

            // Tell an empty log (or a tail with nothing new) apart from a task that does not exist or is another org's.
            if (!started && !await store.TaskExistsAsync(org.OrgId, taskId, ct))
            {
                throw Problems.NotFound("Task");
            }
        }
        catch
        {
            await chunks.DisposeAsync();
            throw;
        }

        return new LogPageResult(chunks, started, after, take, options.Value.Limits.MaxLogPageBytes);
    }

    public async Task<LogSearchResult> SearchAsync(OrgContext org, string? q, Guid? taskId, string? cursor, int? limit, CancellationToken ct)
    {
        var query = Check.Required(q, "q", 500);
        var terms = query.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => t.Trim('"'))
            .Where(t => t.TrimEnd('*').Any(char.IsLetterOrDigit))
            .Take(16)
            .ToList();
        if (terms.Count == 0)
        {
            throw Problems.Validation("q", "must contain at least one word.");
        }

        var take = Check.Range(limit, "limit", 1, 200, 20);
        long? before = null;
        if (!string.IsNullOrEmpty(cursor))
        {
            before = long.TryParse(cursor, out var b) && b > 0 ? b : throw Problems.Validation("cursor", "is not a cursor returned by this API.");
        }

        var rows = await store.SearchAsync(org.OrgId, terms, taskId, before, take + 1, ct);
        var hits = rows.Take(take)
            .Select(r => new LogSearchHit(r.TaskId, r.Seq, DbTime.FromDb(r.Ts), r.Level, r.Stream, SnippetHtml.Render(r.Snippet)))
            .ToList();
        return new LogSearchResult(hits, rows.Count > take ? rows[take - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
    }
}
