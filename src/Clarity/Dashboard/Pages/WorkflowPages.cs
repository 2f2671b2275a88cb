namespace Clarity.Dashboard.Pages;

/// <summary>
/// The addresses of the workflow pages under <c>/o/{org}</c>. The editor for a new workflow is <c>workflows/_new</c>:
/// a workflow name starts with a lower-case letter, so no workflow's page (<c>workflows/{name}</c>) can shadow it.
/// </summary>
public static class WorkflowPages
{
    public const string NewPath = "workflows/_new";

    /// <summary>A workflow's page, at its newest version or at <paramref name="version"/>.</summary>
    public static string Path(string name, int? version = null) =>
        "workflows/" + Uri.EscapeDataString(name) + (version is { } v ? "?version=" + v.ToString(System.Globalization.CultureInfo.InvariantCulture) : "");

    public static string EditPath(string name) => "workflows/" + Uri.EscapeDataString(name) + "/edit";

    /// <summary>The form that starts a run of <paramref name="version"/>.</summary>
    public static string StartPath(string name, int version) =>
        "workflows/" + Uri.EscapeDataString(name) + "/run?version=" + version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The runs list, filtered to this workflow.</summary>
    public static string RunsPath(string name) => "runs?workflow=" + Uri.EscapeDataString(name);
}
