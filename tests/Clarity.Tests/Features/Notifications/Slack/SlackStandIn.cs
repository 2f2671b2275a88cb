using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Clarity.Features.Notifications.Slack;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Clarity.Tests.Features.Notifications.Slack;

/// <summary>One request the stand-in received: the Web API method (or <c>response_url</c>, <c>webhook</c>), its bearer token and body.</summary>
public sealed record SlackCall(string Method, string? Token, JsonObject Body);

/// <summary>A message as Slack keeps it: where, its ts, and what was posted (updated in place by chat.update).</summary>
public sealed class SlackPosted(string channelId, string ts, JsonObject message)
{
    public string ChannelId => channelId;

    public string Ts => ts;

    public JsonObject Message { get; set; } = message;

    public JsonArray Blocks => Message["blocks"] as JsonArray ?? [];

    public IEnumerable<JsonObject> Buttons => Blocks.OfType<JsonObject>().Where(b => (string?)b["type"] == "actions")
        .SelectMany(b => (b["elements"] as JsonArray ?? []).OfType<JsonObject>());

    /// <summary>Every string in the message (its text and its blocks' texts, URLs and values), one a line.</summary>
    public string AllText => string.Join('\n', Strings(Message));

    private static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => Strings(p.Value)),
        JsonArray a => a.SelectMany(Strings),
        JsonValue v when v.TryGetValue<string>(out var s) => [s],
        _ => [],
    };
}

/// <summary>A Slack user the stand-in knows, as users.info describes them.</summary>
public sealed record SlackUser(string Id, string Name, string? Email, bool EmailConfirmed = true, bool Deleted = false, bool IsBot = false);

/// <summary>
/// A loopback stand-in for Slack (Kestrel on 127.0.0.1), speaking the Web API's shapes: <c>chat.postMessage</c>,
/// <c>chat.update</c> and <c>users.info</c> under <c>/api/</c> (JSON or form bodies, <c>Authorization: Bearer</c>;
/// <c>{ok:true, channel, ts, message}</c>, or HTTP 200 with <c>{ok:false, error}</c>: <c>not_authed</c>,
/// <c>invalid_auth</c> for a token it does not know, <c>channel_not_found</c>, <c>message_not_found</c>,
/// <c>user_not_found</c>; 429 with <c>Retry-After</c> when told to rate limit), interactions' <c>response_url</c>s and an
/// incoming webhook. It records every call, and "clicks" a button the way Slack does: it builds the
/// <c>block_actions</c> payload from the message it holds, signs it with the app's signing secret and POSTs it,
/// form-encoded, to Clarity's interactivity URL.
/// </summary>
public sealed class SlackStandIn : IAsyncDisposable
{
    public const string TeamId = "T0CLARITY";
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SlackCall> _calls = new();
    private readonly ConcurrentDictionary<string, SlackPosted> _messages = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SlackUser> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _channels = new(StringComparer.Ordinal) { ["#ops"] = "C0OPS00001", ["#alerts"] = "C0ALERTS01" };
    private readonly SemaphoreSlim _changed = new(0);
    private long _ts;
    private int _userCount;
    private int _channelCount;

    private SlackStandIn(WebApplication app) => _app = app;

    /// <summary>The token chat.* and users.info accept; any other is <c>invalid_auth</c>.</summary>
    public string BotToken { get; set; } = "xoxb-stand-in-" + Guid.NewGuid().ToString("N");

    public string SigningSecret { get; } = Guid.NewGuid().ToString("N");

    /// <summary>When set, the next Web API calls answer 429 with Retry-After (as many as the count).</summary>
    public int RateLimitNext;

    public string BaseUrl => _app.Urls.First().TrimEnd('/');

    public string ApiBaseUrl => BaseUrl + "/api/";

    public string WebhookUrl => BaseUrl + "/services/T0CLARITY/B0HOOK/stand-in";

    public IReadOnlyList<SlackCall> Calls => [.. _calls];

    public IEnumerable<SlackCall> CallsOf(string method) => _calls.Where(c => c.Method == method);

    public string ChannelIdOf(string name) => _channels[name];

    public SlackPosted? Message(string channelId, string ts) => _messages.GetValueOrDefault(channelId + "/" + ts);

    /// <summary>A channel the workspace has (<c>#name</c>), so that messages to it are posted; returns its id.</summary>
    public string AddChannel(string name) =>
        _channels.GetOrAdd(name, _ => "C0" + Interlocked.Increment(ref _channelCount).ToString("D8", CultureInfo.InvariantCulture));

    /// <summary>A Slack user with this email; returns the Slack user id.</summary>
    public string AddUser(string? email, bool emailConfirmed = true, bool isBot = false)
    {
        var id = "U0" + Interlocked.Increment(ref _userCount).ToString("D7", CultureInfo.InvariantCulture);
        _users[id] = new SlackUser(id, "user" + id, email, emailConfirmed, IsBot: isBot);
        return id;
    }

    public static async Task<SlackStandIn> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var slack = new SlackStandIn(app);
        app.MapPost("/api/{method}", (Delegate)slack.WebApiAsync);
        app.MapPost("/respond/{id}", (Delegate)slack.ReceiveAsync);
        app.MapPost("/services/{team}/{bot}/{secret}", (Delegate)slack.ReceiveAsync);
        await app.StartAsync();
        return slack;
    }

    /// <summary>Waits until a recorded call satisfies <paramref name="match"/> (at most a minute: a missing call fails the test, it does not time it).</summary>
    public async Task<SlackCall> WaitForAsync(string method, Func<SlackCall, bool> match, string what)
    {
        var deadline = DateTimeOffset.UtcNow.AddMinutes(1);
        while (true)
        {
            if (CallsOf(method).FirstOrDefault(match) is { } call)
            {
                return call;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Slack never received {what}. Calls: {string.Join(Environment.NewLine, _calls.Select(c => c.Method + " " + c.Body.ToJsonString()))}");
            }

            await _changed.WaitAsync(TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>
    /// Clicks the button <paramref name="buttonText"/> of a message as <paramref name="userId"/>, the way Slack does; returns
    /// Clarity's answer and the response_url Slack handed out (the ephemeral reply arrives there).
    /// </summary>
    public async Task<(HttpResponseMessage Response, string ResponseUrl)> ClickAsync(
        Uri clarity, SlackPosted message, string buttonText, string userId, string? secret = null, long? timestamp = null, Action<HttpRequestMessage>? tamper = null)
    {
        var (request, responseUrl) = BuildClick(clarity, message, buttonText, userId, secret, timestamp);
        tamper?.Invoke(request);
        using var client = new HttpClient();
        return (await client.SendAsync(request), responseUrl);
    }

    /// <summary>The signed request of a click (form-encoded <c>payload</c>, <c>X-Slack-Request-Timestamp</c>, <c>X-Slack-Signature</c>).</summary>
    public (HttpRequestMessage Request, string ResponseUrl) BuildClick(Uri clarity, SlackPosted message, string buttonText, string userId, string? secret = null, long? timestamp = null)
    {
        var button = message.Buttons.First(b => (string?)b["text"]!["text"] == buttonText);
        var block = message.Blocks.OfType<JsonObject>().First(b => (string?)b["type"] == "actions");
        var user = _users.GetValueOrDefault(userId) ?? new SlackUser(userId, "stranger", null);
        var responseUrl = $"{BaseUrl}/respond/{Guid.NewGuid():N}";
        var now = timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = new JsonObject
        {
            ["type"] = "block_actions",
            ["user"] = new JsonObject { ["id"] = user.Id, ["username"] = user.Name, ["name"] = user.Name, ["team_id"] = TeamId },
            ["api_app_id"] = "A0CLARITY",
            ["token"] = "deprecated-verification-token",
            ["container"] = new JsonObject { ["type"] = "message", ["message_ts"] = message.Ts, ["channel_id"] = message.ChannelId, ["is_ephemeral"] = false },
            ["trigger_id"] = $"{now}.{Random.Shared.Next()}.stand-in",
            ["team"] = new JsonObject { ["id"] = TeamId, ["domain"] = "clarity-stand-in" },
            ["enterprise"] = null,
            ["is_enterprise_install"] = false,
            ["channel"] = new JsonObject { ["id"] = message.ChannelId, ["name"] = _channels.FirstOrDefault(c => c.Value == message.ChannelId).Key?.TrimStart('#') ?? "channel" },
            ["message"] = message.Message.DeepClone(),
            ["state"] = new JsonObject { ["values"] = new JsonObject() },
            ["response_url"] = responseUrl,
            ["actions"] = new JsonArray
            {
                new JsonObject
                {
                    ["action_id"] = button["action_id"]!.DeepClone(),
                    ["block_id"] = block["block_id"]?.DeepClone() ?? "b",
                    ["text"] = button["text"]!.DeepClone(),
                    ["value"] = button["value"]?.DeepClone(),
                    ["type"] = "button",
                    ["action_ts"] = $"{now}.000100",
                },
            },
        };
        var body = Encoding.UTF8.GetBytes("payload=" + Uri.EscapeDataString(payload.ToJsonString()));
        var ts = now.ToString(CultureInfo.InvariantCulture);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(clarity, SlackEndpoints.InteractivityPath)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/x-www-form-urlencoded");
        request.Headers.Add(SlackSignature.TimestampHeader, ts);
        request.Headers.Add(SlackSignature.SignatureHeader, SlackSignature.Compute(secret ?? SigningSecret, ts, body));
        request.Headers.UserAgent.ParseAdd("Slackbot 1.0 (+https://api.slack.com/robots)");
        return (request, responseUrl);
    }

    /// <summary>
    /// Waits until <paramref name="count"/> replies have been posted to the response_url (Clarity sends them after its 200)
    /// and returns them; at most a minute, as <see cref="WaitForAsync"/>.
    /// </summary>
    public async Task<IReadOnlyList<JsonObject>> RepliesToAsync(string responseUrl, int count = 1)
    {
        var path = new Uri(responseUrl).AbsolutePath;
        await WaitForAsync("response_url", _ => RepliesTo(responseUrl).Count() >= count, $"{count} repl{(count == 1 ? "y" : "ies")} to {path}");
        return [.. RepliesTo(responseUrl)];
    }

    /// <summary>What was posted to a response_url (the ephemeral replies).</summary>
    public IEnumerable<JsonObject> RepliesTo(string responseUrl) =>
        CallsOf("response_url").Where(c => (string?)c.Body["_url"] == new Uri(responseUrl).AbsolutePath).Select(c => c.Body);

    private async Task<IResult> WebApiAsync(HttpContext context, string method)
    {
        var body = await ReadAsync(context.Request);
        var auth = context.Request.Headers.Authorization.ToString();
        var token = auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..] : (string?)body["token"];
        IResult result;
        if (RateLimitNext > 0)
        {
            Interlocked.Decrement(ref RateLimitNext);
            context.Response.Headers.RetryAfter = "1";
            result = Results.Json(new JsonObject { ["ok"] = false, ["error"] = "ratelimited" }, statusCode: 429);
        }
        else if (string.IsNullOrEmpty(token))
        {
            result = Error("not_authed");
        }
        else if (token != BotToken)
        {
            result = Error("invalid_auth");
        }
        else
        {
            result = method switch
            {
                "chat.postMessage" => PostMessage(body),
                "chat.update" => Update(body),
                "users.info" => UserInfo(body),
                "users.lookupByEmail" => LookupByEmail(body),
                _ => Error("unknown_method"),
            };
        }

        // Recorded once handled, so that a test that saw the call also sees its effect.
        Record(new SlackCall(method, token, body));
        return result;
    }

    /// <summary>The direct-message channel of the bot with a Slack user (opened by the first message to the user's id).</summary>
    public string DirectChannelOf(string userId) => "D" + userId[1..];

    /// <summary>The messages posted in the bot's direct-message channel with a Slack user, oldest first.</summary>
    public IReadOnlyList<SlackPosted> DirectMessages(string userId) =>
        [.. _messages.Values.Where(m => m.ChannelId == DirectChannelOf(userId)).OrderBy(m => m.Ts, StringComparer.Ordinal)];

    private IResult LookupByEmail(JsonObject body)
    {
        var email = (string?)body["email"];
        var user = _users.Values.FirstOrDefault(u => u.Email is not null && string.Equals(u.Email, email, StringComparison.OrdinalIgnoreCase) && !u.Deleted);
        return user is null ? Error("users_not_found") : UserInfo(new JsonObject { ["user"] = user.Id });
    }

    private IResult PostMessage(JsonObject body)
    {
        var channel = (string?)body["channel"];
        if (channel is not null && _users.ContainsKey(channel))
        {
            // chat.postMessage to a user id posts in the bot's direct-message channel with them.
            var userId = channel;
            channel = DirectChannelOf(userId);
            _channels.TryAdd("@" + userId, channel);
        }

        var id = channel is null ? null : channel.StartsWith('#') ? _channels.GetValueOrDefault(channel) : (_channels.Values.Contains(channel) ? channel : null);
        if (id is null)
        {
            return Error("channel_not_found");
        }

        if (string.IsNullOrEmpty((string?)body["text"]) && body["blocks"] is not JsonArray { Count: > 0 })
        {
            return Error("no_text");
        }

        var ts = $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.{Interlocked.Increment(ref _ts):D6}";
        var message = new JsonObject
        {
            ["type"] = "message",
            ["subtype"] = "bot_message",
            ["user"] = "U0BOT00001",
            ["bot_id"] = "B0CLARITY",
            ["text"] = body["text"]?.DeepClone(),
            ["blocks"] = Blocks(body)?.DeepClone() ?? new JsonArray(),
            ["ts"] = ts,
            ["team"] = TeamId,
        };
        _messages[id + "/" + ts] = new SlackPosted(id, ts, message);
        return Ok(new JsonObject { ["channel"] = id, ["ts"] = ts, ["message"] = message.DeepClone() });
    }

    private IResult Update(JsonObject body)
    {
        var channel = (string?)body["channel"];
        var ts = (string?)body["ts"];
        if (channel is null || !_channels.Values.Contains(channel))
        {
            return Error("channel_not_found");
        }

        if (ts is null || !_messages.TryGetValue(channel + "/" + ts, out var posted))
        {
            return Error("message_not_found");
        }

        var message = (JsonObject)posted.Message.DeepClone();
        message["text"] = body["text"]?.DeepClone();
        message["blocks"] = Blocks(body)?.DeepClone() ?? new JsonArray();
        message["edited"] = new JsonObject { ["user"] = "U0BOT00001", ["ts"] = $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.000000" };
        posted.Message = message;
        return Ok(new JsonObject { ["channel"] = channel, ["ts"] = ts, ["text"] = body["text"]?.DeepClone(), ["message"] = message.DeepClone() });
    }

    private IResult UserInfo(JsonObject body)
    {
        if ((string?)body["user"] is not { } id || !_users.TryGetValue(id, out var user))
        {
            return Error("user_not_found");
        }

        var profile = new JsonObject { ["real_name"] = user.Name, ["display_name"] = user.Name };
        if (user.Email is not null)
        {
            profile["email"] = user.Email;
        }

        return Ok(new JsonObject
        {
            ["user"] = new JsonObject
            {
                ["id"] = user.Id,
                ["team_id"] = TeamId,
                ["name"] = user.Name,
                ["deleted"] = user.Deleted,
                ["real_name"] = user.Name,
                ["is_bot"] = user.IsBot,
                ["is_email_confirmed"] = user.EmailConfirmed,
                ["profile"] = profile,
            },
        });
    }

    /// <summary>A response_url or the incoming webhook: records the JSON (with its path under <c>_url</c>) and answers "ok".</summary>
    private async Task<IResult> ReceiveAsync(HttpContext context)
    {
        var body = await ReadAsync(context.Request);
        body["_url"] = context.Request.Path.Value;
        Record(new SlackCall(context.Request.Path.StartsWithSegments("/respond") ? "response_url" : "webhook", null, body));
        if (body["text"] is null && body["blocks"] is null)
        {
            return Results.Text("invalid_payload", statusCode: 400);
        }

        return Results.Text("ok");
    }

    private void Record(SlackCall call)
    {
        _calls.Enqueue(call);
        _changed.Release();
    }

    /// <summary>A JSON body, or a form (blocks as a JSON string), into one object.</summary>
    private static async Task<JsonObject> ReadAsync(HttpRequest request)
    {
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync();
            var json = new JsonObject();
            foreach (var (key, value) in form)
            {
                json[key] = value.ToString();
            }

            return json;
        }

        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? [];
    }

    private static JsonArray? Blocks(JsonObject body) => body["blocks"] switch
    {
        JsonArray array => array,
        JsonValue value when value.TryGetValue<string>(out var text) => JsonNode.Parse(text) as JsonArray,
        _ => null,
    };

    private static IResult Ok(JsonObject body)
    {
        body["ok"] = true;
        return Results.Text(body.ToJsonString(), "application/json; charset=utf-8");
    }

    private static IResult Error(string error) =>
        Results.Text(new JsonObject { ["ok"] = false, ["error"] = error }.ToJsonString(), "application/json; charset=utf-8");

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _changed.Dispose();
    }
}
