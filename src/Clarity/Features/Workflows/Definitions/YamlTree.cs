using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Clarity.Features.Workflows.Definitions;

/// <summary>The source text with a table of line starts, to turn a character index into a line and column.</summary>
internal sealed class SourceText(string text)
{
    private int[]? _lineStarts;

    public string Text { get; } = text;

    public SourcePosition PositionOf(int index)
    {
        _lineStarts ??= LineStarts(Text);
        index = Math.Clamp(index, 0, Text.Length);
        var line = Array.BinarySearch(_lineStarts, index);
        if (line < 0)
        {
            line = ~line - 1;
        }

        return new SourcePosition(line + 1, index - _lineStarts[line] + 1);
    }

    private static int[] LineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
        {
            // A line ends at \n, at \r\n, or at a \r alone (YAML's line breaks).
            if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= text.Length || text[i + 1] != '\n')))
            {
                starts.Add(i + 1);
            }
        }

        return [.. starts];
    }
}

/// <summary>A YAML node with where it starts and ends in the source (character indexes).</summary>
internal abstract class YNode(SourceText source, int start, int end)
{
    public SourceText Source { get; } = source;

    public int Start { get; } = start;

    public int End { get; } = end;

    public SourcePosition Position => Source.PositionOf(Start);

    /// <summary>What a message calls this kind of node: "a string", "a mapping", "a list".</summary>
    public abstract string Describe();

    /// <summary>The node as JSON (a YAML mapping becomes an object, a sequence an array, a scalar a typed value).</summary>
    public abstract JsonNode? ToJson();
}

internal enum YScalarType
{
    Null,
    Boolean,
    Integer,
    Float,
    String,
}

/// <summary>A scalar, typed by the YAML 1.2 core schema (quoted scalars and <c>!!str</c> are always strings).</summary>
internal sealed partial class YScalar(SourceText source, int start, int end, string value, ScalarStyle style, YScalarType type)
    : YNode(source, start, end)
{
    private int[]? _map;

    public string Value { get; } = value;

    public ScalarStyle Style { get; } = style;

    public YScalarType Type { get; } = type;

    public bool IsString => Type == YScalarType.String;

    public override string Describe() => Type switch
    {
        YScalarType.Null => "null",
        YScalarType.Boolean => "a boolean",
        YScalarType.Integer => "an integer",
        YScalarType.Float => "a number",
        _ => "a string",
    };

    public override JsonNode? ToJson() => Type switch
    {
        YScalarType.Null => null,
        YScalarType.Boolean => JsonValue.Create(Value is "true" or "True" or "TRUE"),
        YScalarType.Integer when TryInteger(out var l) => JsonValue.Create(l),
        YScalarType.Integer or YScalarType.Float when double.TryParse(Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => JsonValue.Create(d),
        _ => JsonValue.Create(Value),
    };

    /// <summary>The integer value (decimal, 0x hex or 0o octal), when it fits in 64 bits.</summary>
    public bool TryInteger(out long value)
    {
        value = 0;
        if (Type != YScalarType.Integer)
        {
            return false;
        }

        var text = Value.StartsWith('+') ? Value[1..] : Value;
        try
        {
            if (text.StartsWith("0x", StringComparison.Ordinal))
            {
                value = Convert.ToInt64(text[2..], 16);
                return value >= 0;
            }

            if (text.StartsWith("0o", StringComparison.Ordinal))
            {
                value = Convert.ToInt64(text[2..], 8);
                return value >= 0;
            }
        }
        catch (Exception ex) when (ex is OverflowException or FormatException or ArgumentException)
        {
            return false;
        }

        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The value as a number (integer or float), when it is one.</summary>
    public bool TryNumber(out double value)
    {
        value = 0;
        if (TryInteger(out var l))
        {
            value = l;
            return true;
        }

        return Type is YScalarType.Integer or YScalarType.Float
            && double.TryParse(Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    /// <summary>
    /// Where the character at <paramref name="offset"/> of <see cref="Value"/> sits in the source. Exact for plain and
    /// quoted scalars on one line (escapes included) and for literal/folded block scalars; for flow scalars folded over
    /// several lines each folded line break maps to where it was.
    /// </summary>
    public SourcePosition Locate(int offset)
    {
        _map ??= ScalarSourceMap.Build(Source.Text, Start, End, Value, Style);
        return Source.PositionOf(_map[Math.Clamp(offset, 0, Value.Length)]);
    }

    internal static YScalarType Resolve(string value, ScalarStyle style, string? tag)
    {
        if (tag is "tag:yaml.org,2002:str" || style is not ScalarStyle.Plain and not ScalarStyle.Any)
        {
            return YScalarType.String;
        }

        if (value.Length == 0 || value is "~" or "null" or "Null" or "NULL")
        {
            return YScalarType.Null;
        }

        if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return YScalarType.Boolean;
        }

        if (IntegerPattern().IsMatch(value))
        {
            return YScalarType.Integer;
        }

        return FloatPattern().IsMatch(value) ? YScalarType.Float : YScalarType.String;
    }

    [GeneratedRegex(@"^([-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex FloatPattern();
}

internal sealed class YSequence(SourceText source, int start, int end, IReadOnlyList<YNode> items) : YNode(source, start, end)
{
    public IReadOnlyList<YNode> Items { get; } = items;

    public override string Describe() => "a list";

    public override JsonNode? ToJson() => new JsonArray([.. Items.Select(i => i.ToJson())]);
}

/// <summary>A mapping whose keys are strings (YAML keys that are not scalars are refused while reading), in source order.</summary>
internal sealed class YMapping(SourceText source, int start, int end, IReadOnlyList<KeyValuePair<YScalar, YNode>> entries) : YNode(source, start, end)
{
    public IReadOnlyList<KeyValuePair<YScalar, YNode>> Entries { get; } = entries;

    public YNode? Get(string key)
    {
        foreach (var (k, v) in Entries)
        {
            if (k.Value == key)
            {
                return v;
            }
        }

        return null;
    }

    public YScalar? KeyOf(string key) => Entries.FirstOrDefault(e => e.Key.Value == key).Key;

    public override string Describe() => "a mapping";

    public override JsonNode? ToJson()
    {
        var obj = new JsonObject();
        foreach (var (k, v) in Entries)
        {
            obj[k.Value] = v.ToJson();
        }

        return obj;
    }
}

/// <summary>
/// Reads YAML into a <see cref="YNode"/> tree with positions, through YamlDotNet's event parser. It refuses what a
/// workflow never needs and what can blow up: anchors and aliases (no billion laughs), nesting deeper than
/// <see cref="MaxDepth"/>, tags other than the core schema's, keys that are not scalars, and more than one document.
/// </summary>
internal sealed class YamlReader
{
    /// <summary>The deepest nesting of mappings and lists a definition may have.</summary>
    public const int MaxDepth = 64;

    private readonly SourceText _source;
    private readonly List<DefinitionProblem> _problems;
    private readonly IParser _parser;
    private bool _tooDeep;
    private bool _aliasReported;
    private int _lastIndex;

    private YamlReader(SourceText source, List<DefinitionProblem> problems)
    {
        _source = source;
        _problems = problems;
        _parser = new Parser(new StringReader(source.Text));
    }

    /// <summary>Reads the single document in <paramref name="source"/>; null when it is empty or could not be read.</summary>
    public static YNode? Read(SourceText source, List<DefinitionProblem> problems)
    {
        var reader = new YamlReader(source, problems);
        try
        {
            return reader.ReadStream();
        }
        catch (YamlException ex)
        {
            var at = ex.Start.Index >= 0 && ex.Start.Line > 0 ? source.PositionOf((int)Math.Min(ex.Start.Index, int.MaxValue)) : SourcePosition.Start;
            problems.Add(new DefinitionProblem(at.Line, at.Column, "", DefinitionProblemCodes.YamlSyntax, SyntaxMessage(ex)));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // Some malformed input trips YamlDotNet's own state checks instead of a YamlException (found by fuzzing).
            var at = source.PositionOf(reader._lastIndex);
            problems.Add(new DefinitionProblem(at.Line, at.Column, "", DefinitionProblemCodes.YamlSyntax, $"invalid YAML after this point: {ex.Message}"));
            return null;
        }
    }

    private static string SyntaxMessage(YamlException ex)
    {
        // YamlDotNet prefixes its own "(Line: 1, Col: 2, Idx: 1) - (…):"; the problem carries the position already.
        var message = ex.Message;
        var cut = message.IndexOf("): ", StringComparison.Ordinal);
        if (message.StartsWith('(') && cut > 0)
        {
            message = message[(cut + 3)..];
        }

        return $"invalid YAML: {message.Trim()}";
    }

    private YNode? ReadStream()
    {
        _parser.Consume<StreamStart>();
        if (_parser.Accept<StreamEnd>(out _))
        {
            return null;
        }

        _parser.Consume<DocumentStart>();
        var root = ReadNode(0);
        if (_tooDeep)
        {
            return null;
        }

        _parser.Consume<DocumentEnd>();
        if (_parser.Accept<DocumentStart>(out var second))
        {
            Add(Index(second.Start), "", DefinitionProblemCodes.MultipleDocuments, "a workflow file holds one YAML document; remove the '---' and what follows, or split the file");
            return root;
        }

        _parser.Consume<StreamEnd>();
        return root;
    }

    private YNode? ReadNode(int depth)
    {
        var ev = _parser.Consume<ParsingEvent>();
        _lastIndex = Index(ev.Start);
        switch (ev)
        {
            case AnchorAlias alias:
                ReportAlias(Index(alias.Start));
                return new YScalar(_source, Index(alias.Start), Index(alias.End), "", ScalarStyle.Plain, YScalarType.Null);
            case Scalar scalar:
                CheckNodeEvent(scalar);
                return new YScalar(_source, Index(scalar.Start), Index(scalar.End), scalar.Value, scalar.Style,
                    YScalar.Resolve(scalar.Value, scalar.Style, scalar.Tag.IsEmpty ? null : scalar.Tag.Value));
            case SequenceStart seq:
                CheckNodeEvent(seq);
                if (!Deeper(depth, seq.Start))
                {
                    return null;
                }

                var items = new List<YNode>();
                while (!_parser.TryConsume<SequenceEnd>(out var seqEnd))
                {
                    var item = ReadNode(depth + 1);
                    if (_tooDeep)
                    {
                        return null;
                    }

                    items.Add(item!);
                    _ = seqEnd;
                }

                return new YSequence(_source, Index(seq.Start), Index(seq.End), items);
            case MappingStart map:
                CheckNodeEvent(map);
                if (!Deeper(depth, map.Start))
                {
                    return null;
                }

                var entries = new List<KeyValuePair<YScalar, YNode>>();
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (!_parser.TryConsume<MappingEnd>(out _))
                {
                    var keyNode = ReadNode(depth + 1);
                    if (_tooDeep)
                    {
                        return null;
                    }

                    var value = ReadNode(depth + 1);
                    if (_tooDeep)
                    {
                        return null;
                    }

                    if (keyNode is not YScalar key)
                    {
                        Add(keyNode!.Start, "", DefinitionProblemCodes.WrongType, $"a key must be a string, not {keyNode.Describe()}");
                        continue;
                    }

                    if (!seen.Add(key.Value))
                    {
                        Add(key.Start, "", DefinitionProblemCodes.DuplicateKey, $"'{key.Value}' appears twice in this mapping; the first one counts");
                        continue;
                    }

                    entries.Add(new(key, value!));
                }

                return new YMapping(_source, Index(map.Start), Index(map.End), entries);
            default:
                throw new YamlException(ev.Start, ev.End, $"unexpected {ev.GetType().Name}");
        }
    }

    private bool Deeper(int depth, Mark start)
    {
        if (depth < MaxDepth)
        {
            return true;
        }

        _tooDeep = true;
        Add(Index(start), "", DefinitionProblemCodes.TooDeep, $"the document nests deeper than {MaxDepth} levels");
        return false;
    }

    private void CheckNodeEvent(NodeEvent ev)
    {
        if (!ev.Anchor.IsEmpty)
        {
            ReportAlias(Index(ev.Start));
        }

        if (!ev.Tag.IsEmpty && !ev.Tag.IsNonSpecific && !ev.Tag.Value.StartsWith("tag:yaml.org,2002:", StringComparison.Ordinal))
        {
            Add(Index(ev.Start), "", DefinitionProblemCodes.UnsupportedTag, $"the tag '{ev.Tag.Value}' is not supported; remove it");
        }
        else if (!ev.Tag.IsEmpty && ev.Tag.Value is "tag:yaml.org,2002:binary" or "tag:yaml.org,2002:set" or "tag:yaml.org,2002:omap" or "tag:yaml.org,2002:pairs" or "tag:yaml.org,2002:timestamp")
        {
            Add(Index(ev.Start), "", DefinitionProblemCodes.UnsupportedTag, $"the tag '{ev.Tag.Value}' is not supported; remove it");
        }
    }

    private void ReportAlias(int index)
    {
        // One report is enough: a file built on anchors would otherwise list every use.
        if (!_aliasReported)
        {
            _aliasReported = true;
            Add(index, "", DefinitionProblemCodes.AliasRefused, "anchors and aliases (&name, *name) are not supported; write the value out");
        }
    }

    private void Add(int index, string path, string code, string message)
    {
        var at = _source.PositionOf(index);
        _problems.Add(new DefinitionProblem(at.Line, at.Column, path, code, message));
    }

    private static int Index(Mark mark) => (int)Math.Clamp(mark.Index, 0, int.MaxValue);
}
