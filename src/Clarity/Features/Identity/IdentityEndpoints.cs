using Clarity.Hosting;
using Clarity.Hosting.Authentication;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Clarity.Features.Identity;

// Inside the namespace: BouncyCastle (through MailKit) has a root namespace named Org.
using Org = Clarity.Client.Org;

public static class IdentityEndpoints
{
    public static IServiceCollection AddIdentity(this IServiceCollection services) =>
        services
            .AddSingleton<IdentityStore>()
            .AddSingleton<SessionStore>()
            .AddSingleton<InvitationStore>()
            .AddSingleton(sp => new PasswordHashing(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClarityOptions>>().Value.Auth.PasswordIterations))
            .AddSingleton<TokenService>()
            .AddSingleton<ApiKeyCache>()
            .AddSingleton<SessionService>()
            .AddSingleton<IdentityService>()
            .AddSingleton<InvitationService>()
            .AddSingleton<ISweep, SessionSweep>();

    public static IEndpointRouteBuilder MapIdentityEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Identity");
        api.MapGet("/setup", GetSetupStatus).Public();
        api.MapPost("/setup", Setup).Public();
        api.MapPost("/auth/login", Login).Public();
        api.MapPost("/auth/logout", Logout).Public();
        api.MapGet("/me", GetMe).RequireCaller();
        api.MapGet("/me/sessions", ListSessions).RequireUser();
        api.MapDelete("/me/sessions", RevokeAllSessions).RequireUser();
        api.MapDelete("/me/sessions/{id:guid}", RevokeSession).RequireUser();
        api.MapDelete("/me/orgs/{org}", Leave).RequireUser();
        api.MapPost("/orgs", CreateOrg).RequireUser();
        api.MapPost("/invitations/accept", AcceptWithNewAccount).Public();
        api.MapPost("/invitations/{id:guid}/accept", AcceptInvitation).RequireUser();
        api.MapPost("/invitations/{id:guid}/decline", DeclineInvitation).RequireUser();

        var org = api.MapGroup("/orgs/{org}");
        org.MapGet("", GetOrg).RequirePermission(Permissions.OrgRead);
        org.MapGet("/members", ListMembers).RequirePermission(Permissions.MembersRead);
        org.MapPut("/members/{userId:guid}", ChangeRole).RequirePermission(Permissions.MembersManage);
        org.MapDelete("/members/{userId:guid}", RemoveMember).RequirePermission(Permissions.MembersManage);
        org.MapGet("/invitations", ListInvitations).RequirePermission(Permissions.MembersRead);
        org.MapPost("/invitations", CreateInvitation).RequirePermission(Permissions.MembersManage);
        org.MapDelete("/invitations/{id:guid}", RevokeInvitation).RequirePermission(Permissions.MembersManage);
        org.MapGet("/api-keys", ListApiKeys).RequirePermission(Permissions.ApiKeysManage);
        org.MapPost("/api-keys", CreateApiKey).RequirePermission(Permissions.ApiKeysManage);
        org.MapDelete("/api-keys/{id:guid}", RevokeApiKey).RequirePermission(Permissions.ApiKeysManage);
        return app;
    }

    private static async Task<Ok<SetupStatus>> GetSetupStatus(IdentityStore store, CancellationToken ct) =>
        TypedResults.Ok(new SetupStatus(!await store.IsSetUpAsync(ct)));

    private static async Task<Created<SetupResult>> Setup(SetupRequest request, IdentityService identity, CancellationToken ct)
    {
        var (org, user) = await identity.SetupAsync(request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}", new SetupResult(org, user));
    }

    private static async Task<Ok<LoginResult>> Login(LoginRequest request, IdentityService identity, HttpContext http, CancellationToken ct)
    {
        var login = await identity.LoginAsync(request, SignInClient.From(http), ct);
        SessionCookie.Append(http, login.Token, login.ExpiresAt);
        return TypedResults.Ok(login);
    }

    /// <summary>
    /// Ends the session the request signs in with (bearer token or cookie), on every node, and clears the cookie. A request
    /// that signs nobody in (no credential, an API key, a session already ended) has nothing to end and gets the same answer.
    /// </summary>
    private static async Task<NoContent> Logout(HttpContext http, SessionService sessions, CancellationToken ct)
    {
        var result = await http.AuthenticateAsync(ClarityAuthentication.Scheme);
        if (CallerIdentity.Of(result.Principal) is { UserId: { } userId, SessionId: { } sessionId })
        {
            await sessions.RevokeAsync(userId, sessionId, ct);
        }

        SessionCookie.Delete(http);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<Me>> GetMe(HttpContext http, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.MeAsync(CallerOf(http), ct));

    private static async Task<Ok<SessionPage>> ListSessions(HttpContext http, SessionService sessions, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await sessions.ListAsync(CallerOf(http), cursor, limit, ct));

    private static async Task<NoContent> RevokeSession(Guid id, HttpContext http, SessionService sessions, CancellationToken ct)
    {
        if (!await sessions.RevokeAsync(CallerOf(http).UserId!.Value, id, ct))
        {
            throw Problems.NotFound("Session");
        }

        return TypedResults.NoContent();
    }

    /// <summary>Sign out everywhere: every session of the user ends, this one too unless keepCurrent=true.</summary>
    private static async Task<Ok<SessionsRevokedResult>> RevokeAllSessions(HttpContext http, SessionService sessions, bool? keepCurrent, CancellationToken ct)
    {
        var caller = CallerOf(http);
        var revoked = await sessions.RevokeAllAsync(caller.UserId!.Value, keepCurrent == true ? caller.SessionId : null, ct);
        if (keepCurrent != true)
        {
            SessionCookie.Delete(http);
        }

        return TypedResults.Ok(new SessionsRevokedResult(revoked));
    }

    private static async Task<Created<Org>> CreateOrg(CreateOrgRequest request, HttpContext http, IdentityService identity, CancellationToken ct)
    {
        var org = await identity.CreateOrgAsync(CallerOf(http), request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}", org);
    }

    private static async Task<Ok<InvitationAccepted>> AcceptWithNewAccount(AcceptInvitationRequest request, InvitationService invitations, HttpContext http, CancellationToken ct)
    {
        var (login, user, membership) = await invitations.AcceptWithNewAccountAsync(request, SignInClient.From(http), ct);
        SessionCookie.Append(http, login.Token, login.ExpiresAt);
        return TypedResults.Ok(new InvitationAccepted(login.Token, login.ExpiresAt, user, membership));
    }

    private static async Task<Ok<OrgMembership>> AcceptInvitation(Guid id, HttpContext http, InvitationService invitations, CancellationToken ct) =>
        TypedResults.Ok((await invitations.RespondAsync(CallerOf(http), id, accept: true, ct))!);

    private static async Task<NoContent> DeclineInvitation(Guid id, HttpContext http, InvitationService invitations, CancellationToken ct)
    {
        await invitations.RespondAsync(CallerOf(http), id, accept: false, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<Org>> GetOrg(OrgContext org, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.GetOrgAsync(org, ct));

    /// <summary>The signed-in user leaves the org (unless they are its last owner).</summary>
    private static async Task<Ok<MemberRemoval>> Leave(string org, HttpContext http, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.LeaveAsync(CallerOf(http), org, ct));

    private static async Task<Ok<MemberPage>> ListMembers(OrgContext org, IdentityService identity, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await identity.ListMembersAsync(org, cursor, limit, ct));

    private static async Task<Ok<MemberRoleChange>> ChangeRole(OrgContext org, Guid userId, ChangeRoleRequest request, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.ChangeRoleAsync(org, userId, request, ct));

    private static async Task<Ok<MemberRemoval>> RemoveMember(OrgContext org, Guid userId, IdentityService identity, CancellationToken ct) =>
        TypedResults.Ok(await identity.RemoveMemberAsync(org, userId, ct));

    private static async Task<Ok<InvitationPage>> ListInvitations(OrgContext org, InvitationService invitations, string? status, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await invitations.ListAsync(org, status, cursor, limit, ct));

    private static async Task<Created<Invitation>> CreateInvitation(OrgContext org, CreateInvitationRequest request, InvitationService invitations, HttpContext http, CancellationToken ct)
    {
        var invitation = await invitations.CreateAsync(org, request, SiteUrl.Of(http), ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/invitations/{invitation.Id}", invitation);
    }

    private static async Task<NoContent> RevokeInvitation(OrgContext org, Guid id, InvitationService invitations, CancellationToken ct)
    {
        await invitations.RevokeAsync(org, id, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Ok<ApiKeyPage>> ListApiKeys(OrgContext org, IdentityService identity, string? cursor, int? limit, CancellationToken ct) =>
        TypedResults.Ok(await identity.ListApiKeysAsync(org, cursor, limit, ct));

    private static async Task<Created<CreatedApiKey>> CreateApiKey(OrgContext org, CreateApiKeyRequest request, IdentityService identity, CancellationToken ct)
    {
        var key = await identity.CreateApiKeyAsync(org, request, ct);
        return TypedResults.Created($"/api/v1/orgs/{org.Slug}/api-keys/{key.Id}", key);
    }

    private static async Task<NoContent> RevokeApiKey(OrgContext org, Guid id, IdentityService identity, CancellationToken ct)
    {
        await identity.RevokeApiKeyAsync(org, id, ct);
        return TypedResults.NoContent();
    }

    private static Caller CallerOf(HttpContext http) => http.Features.Get<Caller>()!;
}
