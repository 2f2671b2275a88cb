using Clarity.Hosting;
using Microsoft.AspNetCore.Components;

namespace Clarity.Dashboard;

/// <summary>
/// Base class of dashboard pages (<c>@inherits DashboardPage</c>): the request, the signed-in session and, on pages
/// under <c>/o/{org}</c>, the org context that <see cref="DashboardAccess"/> resolved and authorised. A page loads its
/// data in <see cref="DashboardComponent.LoadAsync"/>, before its first render.
/// </summary>
public abstract class DashboardPage : DashboardComponent
{
    [CascadingParameter]
    public HttpContext HttpContext { get; set; } = null!;

    /// <summary>The signed-in person, or null on an anonymous page visited signed out.</summary>
    protected DashboardSession? Session => HttpContext.Features.Get<DashboardSession>();

    /// <summary>The <c>{org}</c> route value (the slug) of pages under <c>/o/{org}</c>.</summary>
    [Parameter]
    public string Org { get; set; } = "";

    /// <summary>The addressed org, resolved and authorised (only on pages under <c>/o/{org}</c>).</summary>
    protected OrgContext OrgContext => HttpContext.Features.Get<OrgContext>()
        ?? throw new InvalidOperationException("This page is not under /o/{org}.");

    protected CancellationToken Aborted => HttpContext.RequestAborted;

    /// <summary>True when the caller's role in the org holds <paramref name="permission"/>.</summary>
    protected bool Can(string permission) => OrgContext.Can(permission);

    /// <summary>"/o/{org}/…" for the current org.</summary>
    protected string OrgUrl(string path = "") => "/o/" + Uri.EscapeDataString(OrgContext.Slug) + (path.Length == 0 ? "" : "/" + path.TrimStart('/'));
}
