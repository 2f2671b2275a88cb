using System.Text;
using Markdig;
using Markdig.Renderers;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Clarity.Dashboard.Pages;

/// <summary>
/// A workflow version's docs (<see cref="Features.Workflows.Definitions.WorkflowDocs"/>) as HTML for the dashboard.
/// The Markdown holds text from the uploaded YAML (names, titles, descriptions), so raw HTML is never passed through
/// (it is shown as text) and a link may only lead to http, https, mailto or a relative address: any other scheme
/// (<c>javascript:</c>, <c>data:</c>, …) leaves the link text without its link. The Mermaid block is not rendered: its
/// place is marked so that the page draws the graph there with the dashboard's own graph code.
/// </summary>
public static class WorkflowDocsHtml
{
    private static readonly MarkdownPipeline s_pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseReferralLinks("nofollow", "noopener", "noreferrer")
        .DisableHtml()
        .Build();

    /// <summary>
    /// The docs as HTML parts in order; a null part is where the graph goes. The first level-1 heading (the workflow's
    /// name, which the page shows as its own heading) is left out.
    /// </summary>
    public static IReadOnlyList<string?> Render(string markdown)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        var document = Markdown.Parse(markdown, s_pipeline);
        Neutralize(document);

        var parts = new List<string?>();
        var html = new StringBuilder();
        var skippedTitle = false;
        foreach (var block in document)
        {
            if (!skippedTitle && block is HeadingBlock { Level: 1 })
            {
                skippedTitle = true;
                continue;
            }

            if (block is FencedCodeBlock { Info: "mermaid" })
            {
                Flush(parts, html);
                parts.Add(null);
                continue;
            }

            using var writer = new StringWriter(html, System.Globalization.CultureInfo.InvariantCulture);
            var renderer = new HtmlRenderer(writer);
            s_pipeline.Setup(renderer);
            renderer.Render(block);
            writer.Flush();
        }

        Flush(parts, html);
        return parts;
    }

    /// <summary>True for a link the docs may carry: no scheme (relative), or http, https or mailto.</summary>
    public static bool IsSafeUrl(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return true;
        }

        // Browsers drop ASCII tabs and newlines inside a URL and trim spaces and controls around it, so "java\tscript:"
        // is javascript: to them: judge the URL as a browser reads it.
        var cleaned = new string([.. url.Where(c => c > ' ' && c != '\u007f')]);
        var colon = cleaned.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return true;
        }

        var delimiter = cleaned.IndexOfAny(['/', '?', '#']);
        if (delimiter >= 0 && delimiter < colon)
        {
            return true; // a relative address with a colon later on (/a:b, ?q=a:b)
        }

        return cleaned[..colon].ToLowerInvariant() is "http" or "https" or "mailto";
    }

    private static void Neutralize(MarkdownDocument document)
    {
        foreach (var link in document.Descendants<LinkInline>().ToList())
        {
            link.GetDynamicUrl = null;
            if (!IsSafeUrl(link.Url))
            {
                if (link.IsImage)
                {
                    link.ReplaceBy(new LiteralInline(link.Title ?? ""));
                }
                else
                {
                    // Keep the link's text, drop the link.
                    var container = new ContainerInline();
                    while (link.FirstChild is { } child)
                    {
                        child.Remove();
                        container.AppendChild(child);
                    }

                    link.ReplaceBy(container);
                }
            }
        }

        foreach (var autolink in document.Descendants<AutolinkInline>().ToList())
        {
            if (!autolink.IsEmail && !IsSafeUrl(autolink.Url))
            {
                autolink.ReplaceBy(new LiteralInline(autolink.Url));
            }
        }
    }

    private static void Flush(List<string?> parts, StringBuilder html)
    {
        if (html.Length > 0)
        {
            parts.Add(html.ToString());
            html.Clear();
        }
    }
}
