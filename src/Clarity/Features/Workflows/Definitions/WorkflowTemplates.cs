namespace Clarity.Features.Workflows.Definitions;

/// <summary>The workflow templates shipped inside the binary (workflows/templates/*.yaml in the repository).</summary>
public static class WorkflowTemplates
{
    private const string Prefix = "workflow-templates/";
    private const string Suffix = ".yaml";

    /// <summary>The names of the shipped templates, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [.. typeof(WorkflowTemplates).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(Suffix, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..^Suffix.Length])
            .Order(StringComparer.Ordinal)];

    /// <summary>The YAML of the template <paramref name="name"/>, or null when there is none by that name.</summary>
    public static string? Read(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Names.Contains(name, StringComparer.Ordinal))
        {
            return null;
        }

        using var stream = typeof(WorkflowTemplates).Assembly.GetManifestResourceStream(Prefix + name + Suffix)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
