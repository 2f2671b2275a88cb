using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Clarity.Client;

/// <summary>
/// A client for the Clarity API. It authenticates with an API key (<c>clk_…</c>) or a JWT from
/// <see cref="LoginAsync"/>, and works in one org, named by its slug. Every error the server reports
/// becomes a <see cref="ClarityApiException"/>; a request that outlives its timeout throws <see cref="TimeoutException"/>.
/// </summary>
/// <example>
/// <code>
/// using var clarity = new ClarityClient(new Uri("http://localhost:5080"), apiKey, "acme");
/// var lease = await clarity.CheckoutAsync(new CheckoutRequest("my-agent", Queues: ["builds"], WaitSeconds: 30));
/// if (lease is not null)
/// {
///     await clarity.AppendLogsAsync(lease.Task.Id, [new LogLine("working")]);
///     await clarity.CompleteTaskAsync(lease.Task.Id, lease.LeaseToken, new { ok = true });
/// }
/// </code>
/// </example>
public sealed partial class ClarityClient : IDisposable
{
    /// <summary>The JSON settings of the API: camelCase names, nulls left out.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _baseAddress;

    /// <param name="server">The server's base URL, e.g. http://localhost:5080.</param>
    /// <param name="credential">An API key or a JWT; null for the public calls (setup, login).</param>
    /// <param name="org">The slug of the org the org-scoped calls work in.</param>
    public ClarityClient(Uri server, string? credential = null, string? org = null)
        : this(new HttpClient { Timeout = Timeout.InfiniteTimeSpan }, ownsHttp: true, server, credential, org)
    {
    }

    /// <summary>Uses <paramref name="http"/> as it is configured (its <see cref="HttpClient.BaseAddress"/> must be set); the caller keeps owning it.</summary>
    /// <remarks>Its own <see cref="HttpClient.Timeout"/> still applies, so keep it above the longest wait you ask for.</remarks>
    public ClarityClient(HttpClient http, string? org = null)
        : this(http, ownsHttp: false, http.BaseAddress ?? throw new ArgumentException("The HttpClient needs a BaseAddress.", nameof(http)), credential: null, org)
    {
    }

    private ClarityClient(HttpClient http, bool ownsHttp, Uri server, string? credential, string? org)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (!server.IsAbsoluteUri || (server.Scheme != Uri.UriSchemeHttp && server.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The server URL must be an absolute http or https URL, not '{server}'.", nameof(server));
        }

        _http = http;
        _ownsHttp = ownsHttp;
        _baseAddress = server.AbsoluteUri.EndsWith('/') ? server : new Uri(server.AbsoluteUri + "/");
        Org = org;
        if (credential is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }
    }

    /// <summary>The org the org-scoped calls work in.</summary>
    public string? Org { get; }

    /// <summary>The server's base URL.</summary>
    public Uri BaseAddress => _baseAddress;

    /// <summary>How long an ordinary request may take. Long-polls get their wait on top of this.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // Setup and identity

    /// <summary>Whether the server still needs its first-run setup.</summary>
    public Task<SetupStatus> GetSetupStatusAsync(CancellationToken ct = default) =>
        SendAsync<SetupStatus>(HttpMethod.Get, "api/v1/setup", null, ct);

    /// <summary>First-run setup: creates the first org and its owner. Works only once.</summary>
    public Task<SetupResult> SetupAsync(SetupRequest request, CancellationToken ct = default) =>
        SendAsync<SetupResult>(HttpMethod.Post, "api/v1/setup", request, ct);

    /// <summary>Signs a user in. Use the token as the credential of a new client.</summary>
    public Task<LoginResult> LoginAsync(string email, string password, CancellationToken ct = default) =>
        SendAsync<LoginResult>(HttpMethod.Post, "api/v1/auth/login", new { email, password }, ct);

    /// <summary>Signs out: the session this client's token belongs to ends on every node.</summary>
    public Task LogoutAsync(CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Post, "api/v1/auth/logout", null, ct);

    /// <summary>Who the credential belongs to, with the invitations waiting for a signed-in user.</summary>
    public Task<Me> GetMeAsync(CancellationToken ct = default) =>
        SendAsync<Me>(HttpMethod.Get, "api/v1/me", null, ct);

    /// <summary>The signed-in user's active sessions (sign-ins), newest first.</summary>
    public Task<SessionPage> ListSessionsAsync(string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<SessionPage>(HttpMethod.Get, "api/v1/me/sessions" + Query(("cursor", cursor), ("limit", Number(limit))), null, ct);

    /// <summary>Ends one of the signed-in user's sessions.</summary>
    public Task RevokeSessionAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Delete, $"api/v1/me/sessions/{id}", null, ct);

    /// <summary>Signs the user out everywhere; with <paramref name="keepCurrent"/>, everywhere but this session.</summary>
    public Task<SessionsRevokedResult> SignOutEverywhereAsync(bool keepCurrent = false, CancellationToken ct = default) =>
        SendAsync<SessionsRevokedResult>(HttpMethod.Delete, "api/v1/me/sessions" + (keepCurrent ? "?keepCurrent=true" : ""), null, ct);

    /// <summary>Creates another org owned by the signed-in user (needs a user token, not an API key).</summary>
    public Task<Org> CreateOrgAsync(string slug, string name, CancellationToken ct = default) =>
        SendAsync<Org>(HttpMethod.Post, "api/v1/orgs", new { slug, name }, ct);

    public Task<Org> GetOrgAsync(CancellationToken ct = default) =>
        SendAsync<Org>(HttpMethod.Get, OrgPath(""), null, ct);

    /// <summary>The signed-in user leaves the org (not its last owner). Their API keys in the org are revoked.</summary>
    public Task<MemberRemoval> LeaveOrgAsync(CancellationToken ct = default) =>
        SendAsync<MemberRemoval>(HttpMethod.Delete, "api/v1/me/orgs/" + Uri.EscapeDataString(Org ?? throw new InvalidOperationException("This client has no org.")), null, ct);

    // Members and invitations

    public Task<MemberPage> ListMembersAsync(string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<MemberPage>(HttpMethod.Get, OrgPath("/members") + Query(("cursor", cursor), ("limit", Number(limit))), null, ct);

    /// <summary>Changes a member's role; API keys they created are capped at the new role (listed in the answer).</summary>
    public Task<MemberRoleChange> ChangeMemberRoleAsync(Guid userId, string role, CancellationToken ct = default) =>
        SendAsync<MemberRoleChange>(HttpMethod.Put, OrgPath($"/members/{userId}"), new { role }, ct);

    /// <summary>Removes a member; the API keys they created in the org are revoked (listed in the answer).</summary>
    public Task<MemberRemoval> RemoveMemberAsync(Guid userId, CancellationToken ct = default) =>
        SendAsync<MemberRemoval>(HttpMethod.Delete, OrgPath($"/members/{userId}"), null, ct);

    /// <summary>Invites an email to the org. The answer's <see cref="Invitation.AcceptUrl"/> is the link to pass on.</summary>
    public Task<Invitation> CreateInvitationAsync(CreateInvitationRequest request, CancellationToken ct = default) =>
        SendAsync<Invitation>(HttpMethod.Post, OrgPath("/invitations"), request, ct);

    public Task<InvitationPage> ListInvitationsAsync(string? status = null, string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<InvitationPage>(HttpMethod.Get, OrgPath("/invitations") + Query(("status", status), ("cursor", cursor), ("limit", Number(limit))), null, ct);

    public Task RevokeInvitationAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Delete, OrgPath($"/invitations/{id}"), null, ct);

    /// <summary>Accepts an invitation addressed to the signed-in user's email.</summary>
    public Task<OrgMembership> AcceptInvitationAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<OrgMembership>(HttpMethod.Post, $"api/v1/invitations/{id}/accept", null, ct);

    public Task DeclineInvitationAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Post, $"api/v1/invitations/{id}/decline", null, ct);

    /// <summary>Accepts an invitation through its link's token by creating the invitee's account; the answer signs them in.</summary>
    public Task<InvitationAccepted> AcceptInvitationWithNewAccountAsync(string token, string password, string? displayName = null, CancellationToken ct = default) =>
        SendAsync<InvitationAccepted>(HttpMethod.Post, "api/v1/invitations/accept", new { token, password, displayName }, ct);

    // API keys

    public Task<ApiKeyPage> ListApiKeysAsync(string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<ApiKeyPage>(HttpMethod.Get, OrgPath("/api-keys") + Query(("cursor", cursor), ("limit", Number(limit))), null, ct);

    public Task<CreatedApiKey> CreateApiKeyAsync(string name, string role, CancellationToken ct = default) =>
        SendAsync<CreatedApiKey>(HttpMethod.Post, OrgPath("/api-keys"), new { name, role }, ct);

    public Task RevokeApiKeyAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Delete, OrgPath($"/api-keys/{id}"), null, ct);

    // Agents

    /// <summary>Registers an agent, or updates the labels of the agent with that name.</summary>
    public Task<Agent> RegisterAgentAsync(string name, IReadOnlyList<string>? labels = null, CancellationToken ct = default) =>
        SendAsync<Agent>(HttpMethod.Post, OrgPath("/agents"), new { name, labels }, ct);

    /// <summary>One page of the org's agents, by name. Pass the page's <see cref="AgentPage.NextCursor"/> to get the next one.</summary>
    /// <param name="limit">Agents per page: 1 to 200; the server's default (50) when null.</param>
    public Task<AgentPage> ListAgentsAsync(string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<AgentPage>(HttpMethod.Get, OrgPath("/agents") + Query(("cursor", cursor), ("limit", Number(limit))), null, ct);

    /// <summary>Every agent of the org, by name, following the cursor page by page.</summary>
    public async IAsyncEnumerable<Agent> EnumerateAgentsAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        string? cursor = null;
        do
        {
            var page = await ListAgentsAsync(cursor, null, ct).ConfigureAwait(false);
            foreach (var agent in page.Items)
            {
                yield return agent;
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
    }

    public Task<Agent> GetAgentAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<Agent>(HttpMethod.Get, OrgPath($"/agents/{id}"), null, ct);

    // Tasks

    /// <summary>Queues a task. With an idempotency key that was used before, returns the existing task.</summary>
    public Task<AgentTask> CreateTaskAsync(CreateTaskRequest request, CancellationToken ct = default) =>
        SendAsync<AgentTask>(HttpMethod.Post, OrgPath("/tasks"), request, ct);

    public Task<AgentTask> GetTaskAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<AgentTask>(HttpMethod.Get, OrgPath($"/tasks/{id}"), null, ct);

    /// <summary>One page of tasks, newest first. Pass the page's <see cref="TaskPage.NextCursor"/> to get the next one.</summary>
    public Task<TaskPage> ListTasksAsync(TaskQuery? query = null, string? cursor = null, CancellationToken ct = default) =>
        SendAsync<TaskPage>(
            HttpMethod.Get,
            OrgPath("/tasks") + Query(("status", query?.Status), ("queue", query?.Queue), ("agent", query?.Agent), ("cursor", cursor), ("limit", query?.Limit?.ToString(System.Globalization.CultureInfo.InvariantCulture))),
            null,
            ct);

    /// <summary>Every task that matches, following the cursor page by page.</summary>
    public async IAsyncEnumerable<AgentTask> EnumerateTasksAsync(TaskQuery? query = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        string? cursor = null;
        do
        {
            var page = await ListTasksAsync(query, cursor, ct).ConfigureAwait(false);
            foreach (var task in page.Items)
            {
                yield return task;
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
    }

    public Task<AgentTask> CancelTaskAsync(Guid id, CancellationToken ct = default) =>
        SendAsync<AgentTask>(HttpMethod.Post, OrgPath($"/tasks/{id}/cancel"), null, ct);

    // Work: checkout and the lease-fenced calls

    /// <summary>
    /// Takes the next task the agent may run, waiting up to <see cref="CheckoutRequest.WaitSeconds"/> for one.
    /// Returns null when none arrived in time.
    /// </summary>
    public Task<Lease?> CheckoutAsync(CheckoutRequest request, CancellationToken ct = default) =>
        SendAsync<Lease?>(HttpMethod.Post, OrgPath("/work/checkout"), request, ct, wait: Seconds(request.WaitSeconds));

    /// <summary>
    /// Takes up to <paramref name="maxTasks"/> tasks at once (1 to 100), each under its own lease, waiting up to
    /// <see cref="CheckoutRequest.WaitSeconds"/> for at least one. Returns an empty list when none arrived in time.
    /// </summary>
    public async Task<IReadOnlyList<Lease>> CheckoutManyAsync(CheckoutRequest request, int maxTasks, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = new { request.Agent, request.Queues, request.Labels, request.WaitSeconds, request.LeaseSeconds, request.TaskId, maxTasks };
        var batch = await SendAsync<CheckoutBatch?>(HttpMethod.Post, OrgPath("/work/checkout"), body, ct, wait: Seconds(request.WaitSeconds)).ConfigureAwait(false);
        return batch?.Leases ?? [];
    }

    /// <summary>Extends the lease. A 409 (<see cref="ProblemTypes.StaleLease"/>) means the lease is gone: the task was cancelled or given to another agent.</summary>
    public Task<HeartbeatResult> HeartbeatAsync(Guid taskId, string leaseToken, CancellationToken ct = default) =>
        SendAsync<HeartbeatResult>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/heartbeat"), new { leaseToken }, ct);

    /// <summary>Marks the task succeeded with an output (any value that serializes to JSON).</summary>
    public Task<AgentTask> CompleteTaskAsync(Guid taskId, string leaseToken, object? output = null, CancellationToken ct = default) =>
        SendAsync<AgentTask>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/complete"), new { leaseToken, output }, ct);

    /// <summary>
    /// Marks the task succeeded and, in the same request, takes the agent's next task matching <paramref name="next"/>
    /// without waiting (eager dispatch): one request fewer per task for a busy agent. <see cref="CompletedTask.Next"/> is
    /// null when no task was waiting; the complete stands either way.
    /// </summary>
    public Task<CompletedTask> CompleteAndCheckoutAsync(Guid taskId, string leaseToken, object? output, NextTaskRequest next, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        return SendAsync<CompletedTask>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/complete"), new { leaseToken, output, next }, ct);
    }

    /// <summary>Marks the attempt failed. A retryable failure requeues the task while it has attempts left.</summary>
    public Task<AgentTask> FailTaskAsync(Guid taskId, string leaseToken, string error, bool retryable = false, CancellationToken ct = default) =>
        SendAsync<AgentTask>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/fail"), new { leaseToken, error, retryable }, ct);

    // Logs

    /// <summary>Appends lines to the task's log, in order. The server numbers them.</summary>
    public Task<AppendLogsResult> AppendLogsAsync(Guid taskId, IEnumerable<LogLine> lines, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(lines);
        return SendAsync<AppendLogsResult>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/logs"), lines.ToList(), ct);
    }

    /// <summary>
    /// Reads one page of the task's log after sequence number <paramref name="afterSeq"/>: up to <paramref name="limit"/>
    /// lines, fewer when the page reaches the server's size bound. Read on from <see cref="LogPage.NextAfterSeq"/> while it is set.
    /// </summary>
    public Task<LogPage> ReadLogsAsync(Guid taskId, long afterSeq = 0, int? limit = null, CancellationToken ct = default) =>
        SendAsync<LogPage>(HttpMethod.Get, OrgPath($"/tasks/{taskId}/logs") + Query(("afterSeq", Number(afterSeq)), ("limit", Number(limit))), null, ct);

    /// <summary>Every line of the task's log after <paramref name="afterSeq"/>, as it is now, following the pages for you.</summary>
    public async IAsyncEnumerable<LogEntry> EnumerateLogsAsync(Guid taskId, long afterSeq = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        long? next = afterSeq;
        while (next is { } after)
        {
            var page = await ReadLogsAsync(taskId, after, null, ct).ConfigureAwait(false);
            foreach (var entry in page.Entries)
            {
                yield return entry;
            }

            next = page.NextAfterSeq;
        }
    }

    /// <summary>Full-text search over the org's logs, optionally in one task.</summary>
    public Task<LogSearchResult> SearchLogsAsync(string query, Guid? taskId = null, string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<LogSearchResult>(
            HttpMethod.Get,
            OrgPath("/logs/search") + Query(("q", query), ("taskId", taskId?.ToString()), ("cursor", cursor), ("limit", Number(limit))),
            null,
            ct);

    // Clarifications

    /// <summary>Asks people a question about a running task. The task waits in awaiting_response until it is answered or expires.</summary>
    public Task<Clarification> CreateClarificationAsync(Guid taskId, CreateClarificationRequest request, CancellationToken ct = default) =>
        SendAsync<Clarification>(HttpMethod.Post, OrgPath($"/tasks/{taskId}/clarifications"), request, ct);

    /// <summary>The org's clarifications, optionally only those in one status (e.g. <see cref="ClarificationStatuses.Pending"/>).</summary>
    public Task<ClarificationPage> ListClarificationsAsync(string? status = null, string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<ClarificationPage>(HttpMethod.Get, OrgPath("/clarifications") + Query(("status", status), ("cursor", cursor), ("limit", Number(limit))), null, ct);

    /// <summary>Gets a clarification; with <paramref name="waitSeconds"/>, first waits that long for it to stop being pending.</summary>
    public Task<Clarification> GetClarificationAsync(Guid id, int? waitSeconds = null, CancellationToken ct = default) =>
        SendAsync<Clarification>(HttpMethod.Get, OrgPath($"/clarifications/{id}") + Query(("waitSeconds", Number(waitSeconds))), null, ct, wait: Seconds(waitSeconds));

    public Task<Clarification> AnswerClarificationAsync(Guid id, string answer, CancellationToken ct = default) =>
        SendAsync<Clarification>(HttpMethod.Post, OrgPath($"/clarifications/{id}/answer"), new { answer }, ct);

    /// <summary>
    /// The org's audit log, newest first. Filters: <paramref name="actor"/> as <c>kind:id</c> (or a kind alone),
    /// <paramref name="action"/> exact or a prefix such as <c>task.*</c>, <paramref name="target"/> as <c>type:id</c>
    /// (or a type alone), and a time range (<paramref name="from"/> inclusive, <paramref name="to"/> exclusive).
    /// </summary>
    public Task<AuditPage> ListAuditAsync(
        string? actor = null, string? action = null, string? target = null, DateTimeOffset? from = null, DateTimeOffset? to = null,
        string? cursor = null, int? limit = null, CancellationToken ct = default) =>
        SendAsync<AuditPage>(HttpMethod.Get, OrgPath("/audit") + Query(
            ("actor", actor), ("action", action), ("target", target), ("from", from?.ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
            ("to", to?.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), ("cursor", cursor), ("limit", Number(limit))), null, ct);

    // Plumbing

    private string OrgPath(string rest)
    {
        if (string.IsNullOrEmpty(Org))
        {
            throw new InvalidOperationException("This call works in an org: create the ClarityClient with an org slug.");
        }

        return "api/v1/orgs/" + Uri.EscapeDataString(Org) + rest;
    }

    private static TimeSpan Seconds(int? seconds) => TimeSpan.FromSeconds(Math.Max(0, seconds ?? 0));

    private static string? Number(long? value) => value?.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var query = new StringBuilder();
        foreach (var (name, value) in parameters)
        {
            if (value is null)
            {
                continue;
            }

            query.Append(query.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }

        return query.ToString();
    }

    /// <summary>Sends one request and reads its JSON answer; a 204 yields default. <paramref name="wait"/> extends the timeout for long-polls.</summary>
    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct, TimeSpan wait = default)
    {
        using var request = new HttpRequestMessage(method, new Uri(_baseAddress, path));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: JsonOptions);
        }

        var timeout = RequestTimeout + wait;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw await ReadProblemAsync(response, deadline.Token).ConfigureAwait(false);
            }

            if (response.StatusCode == HttpStatusCode.NoContent || typeof(T) == typeof(object))
            {
                return default!;
            }

            var result = await response.Content.ReadFromJsonAsync<T>(JsonOptions, deadline.Token).ConfigureAwait(false);
            return result ?? throw new ClarityApiException(response.StatusCode, null, "Empty response", $"{method} {path} answered without a body.");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"{method} {path} did not finish within {timeout.TotalSeconds:0.#} s.");
        }
    }

    private static async Task<ClarityApiException> ReadProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        try
        {
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                return new ClarityApiException(response.StatusCode, StringOf(root, "type"), StringOf(root, "title"), StringOf(root, "detail"), ErrorsOf(root));
            }
        }
        catch (JsonException)
        {
            // Not problem+json (a proxy's error page, say): report what there is.
        }

        var detail = text.Length is > 0 and <= 500 ? text.Trim() : null;
        return new ClarityApiException(response.StatusCode, null, response.ReasonPhrase, detail);
    }

    private static string? StringOf(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static Dictionary<string, string[]>? ErrorsOf(JsonElement root)
    {
        if (!root.TryGetProperty("errors", out var errors) || errors.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var result = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var field in errors.EnumerateObject())
        {
            result[field.Name] = field.Value.ValueKind == JsonValueKind.Array
                ? [.. field.Value.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.String).Select(m => m.GetString()!)]
                : [];
        }

        return result;
    }
}
