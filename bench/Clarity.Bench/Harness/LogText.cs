using System.Text;

namespace Clarity.Bench.Harness;

/// <summary>
/// Realistic agent log lines, 80-120 bytes each: a dozen line shapes (HTTP access, job pickup, slow query, retries,
/// cache misses, builds, tool calls) filled with numbers, ids and words drawn from a Zipf-distributed synthetic
/// vocabulary of 20,000 words, so the full-text index sees a natural spread of common and rare terms.
/// Deterministic for a given seed. The query words used by the search benchmark are planted with known rates.
/// </summary>
public sealed class LogText
{
    /// <summary>Planted in about 1 line in 10,000: the rare-word query.</summary>
    public const string RareWord = "zanzibar";

    private const int VocabularySize = 20_000;
    private static readonly string[] s_syllables =
    [
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "gu", "fe", "zo", "bi", "ha", "ju", "qua", "ster",
        "len", "dor", "vin", "tal", "mon", "rek", "sil", "bar", "cor", "pha", "tri", "gon",
    ];

    private static readonly string[] s_nouns = ["orders", "users", "invoices", "sessions", "payments", "builds", "artifacts", "reports", "tickets", "embeddings", "documents", "metrics"];
    private static readonly string[] s_hosts = ["db-primary", "db-replica-2", "cache-1", "api.internal", "search-3", "queue-broker", "object-store", "auth.internal"];
    private static readonly string[] s_regions = ["eu-west-1", "us-east-2", "ap-south-1", "eu-central-1"];
    private static readonly string[] s_errors = ["connection reset by peer", "timeout after 30s", "503 service unavailable", "tls handshake failed", "dns lookup failed"];
    private static readonly string[] s_tools = ["read_file", "run_tests", "search_code", "apply_patch", "http_get", "list_dir", "git_diff"];

    private readonly Random _random;
    private readonly string[] _words;
    private readonly double[] _cumulative;

    public LogText(int seed)
    {
        _random = new Random(seed);
        var vocabularyRandom = new Random(12345);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var words = new List<string>(VocabularySize);
        while (words.Count < VocabularySize)
        {
            var n = vocabularyRandom.Next(2, 5);
            var sb = new StringBuilder();
            for (var i = 0; i < n; i++)
            {
                sb.Append(s_syllables[vocabularyRandom.Next(s_syllables.Length)]);
            }

            var word = sb.ToString();
            if (word != RareWord && seen.Add(word))
            {
                words.Add(word);
            }
        }

        _words = [.. words];
        _cumulative = new double[_words.Length];
        var total = 0.0;
        for (var i = 0; i < _words.Length; i++)
        {
            total += 1.0 / (i + 1);
            _cumulative[i] = total;
        }

        for (var i = 0; i < _cumulative.Length; i++)
        {
            _cumulative[i] /= total;
        }
    }

    /// <summary>The vocabulary word of the given frequency rank (0 is the most frequent: about 1 in 10 drawn words).</summary>
    public string RankedWord(int rank) => _words[rank];

    public string Word()
    {
        var index = Array.BinarySearch(_cumulative, _random.NextDouble());
        return _words[index < 0 ? Math.Min(~index, _words.Length - 1) : index];
    }

    private T Pick<T>(T[] items) => items[_random.Next(items.Length)];

    private string Hex(int length)
    {
        const string digits = "0123456789abcdef";
        return string.Create(length, _random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = digits[r.Next(16)];
            }
        });
    }

    /// <summary>A random lower-case token that appears nowhere else (used to find one batch by search).</summary>
    public string UniqueToken()
    {
        return "tok" + string.Create(14, _random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + r.Next(26));
            }
        });
    }

    /// <summary>One line of 80-120 bytes (ASCII, no characters that need JSON escaping).</summary>
    public string Line()
    {
        var r = _random;
        var line = r.Next(12) switch
        {
            0 => $"GET /api/v2/{Pick(s_nouns)}/{r.Next(100_000)} -> {(r.Next(10) == 0 ? 404 : 200)} in {r.Next(1, 900)}ms region={Pick(s_regions)}",
            1 => $"worker {r.Next(64)} picked job {Hex(12)} from queue {Pick(s_nouns)}; attempt {r.Next(1, 4)} of 5",
            2 => $"slow query on {Pick(s_nouns)} took {r.Next(200, 5000)}ms rows={r.Next(1, 100_000)} plan=seq scan",
            3 => $"retrying connection to {Pick(s_hosts)}:{r.Next(1000, 9999)} after {Pick(s_errors)}; backoff {r.Next(50, 5000)}ms",
            4 => $"cache miss for key {Pick(s_nouns)}:{Hex(8)}, fetching from {Pick(s_hosts)}",
            5 => $"compiled {r.Next(1, 400)} modules in {r.Next(100, 20_000)}ms with {r.Next(0, 30)} warnings",
            6 => $"tool call {Pick(s_tools)} finished in {r.Next(1, 3000)}ms, {r.Next(0, 50_000)} bytes of output",
            7 => $"model replied with {r.Next(10, 4000)} tokens; stop_reason=end_turn latency={r.Next(200, 20_000)}ms",
            8 => $"connected to {Pick(s_hosts)} pool size {r.Next(1, 64)}, {r.Next(0, 64)} idle",
            9 => $"warning: {Pick(s_nouns)} batch {Hex(6)} exceeded soft limit, {r.Next(1, 100)} items deferred",
            10 => $"error: request {Hex(16)} failed: {Pick(s_errors)}",
            _ => $"step {r.Next(1, 40)} of {r.Next(40, 80)}: {Word()} {Word()} the {Pick(s_nouns)}",
        };

        var sb = new StringBuilder(line, 128);
        if (r.Next(10_000) == 0)
        {
            sb.Append(' ').Append(RareWord);
        }

        var target = r.Next(80, 121);
        while (sb.Length < target)
        {
            sb.Append(' ').Append(Word());
        }

        if (sb.Length > 120)
        {
            var cut = sb.ToString(0, 121).LastIndexOf(' ');
            sb.Length = cut > 60 ? cut : 120;
        }

        return sb.ToString();
    }

    /// <summary>
    /// A JSON array body of <paramref name="count"/> lines ({"text": …}; every 20th line is a warn on stderr).
    /// When <paramref name="placeholder"/> is given, the middle line ends with it, for a unique token later.
    /// </summary>
    public string Batch(int count, string? placeholder = null)
    {
        var sb = new StringBuilder(count * 130);
        sb.Append('[');
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            var text = Line();
            if (placeholder is not null && i == count / 2)
            {
                text = text[..Math.Min(text.Length, 90)] + " " + placeholder;
            }

            sb.Append(i % 20 == 19 ? "{\"level\":\"warn\",\"stream\":\"stderr\",\"text\":\"" : "{\"text\":\"").Append(text).Append("\"}");
        }

        return sb.Append(']').ToString();
    }
}
