using System.Globalization;

namespace Clarity.Features.Workflows.Expressions;

/// <summary>
/// A recursive-descent parser for one expression. It never evaluates anything: it builds an immutable tree, and on the
/// way records every name the expression reads and every problem it finds. Syntax errors stop the parse (the first one
/// is reported); unknown names, unknown functions, wrong argument counts and reserved names are all reported.
/// </summary>
internal sealed class ExpressionParser
{
    private readonly string source;
    private readonly List<Token> tokens;
    private readonly List<ExpressionError> errors;
    private readonly List<ExpressionReference> references;
    private readonly ExpressionSyntax syntax;
    private readonly bool reportSyntaxErrors;
    private int position;
    private int nesting;

    private ExpressionParser(string source, List<Token> tokens, ExpressionSyntax syntax, List<ExpressionError> errors,
        List<ExpressionReference> references, bool reportSyntaxErrors)
    {
        this.source = source;
        this.tokens = tokens;
        this.syntax = syntax;
        this.errors = errors;
        this.references = references;
        this.reportSyntaxErrors = reportSyntaxErrors;
    }

    /// <summary>
    /// Parses <c>source[start..end)</c>; offsets in errors and references are into <paramref name="source"/>.
    /// Returns the tree, or null when the expression has errors.
    /// </summary>
    public static ExpressionNode? Parse(string source, int start, int end, ExpressionSyntax syntax,
        List<ExpressionError> errors, List<ExpressionReference> references)
    {
        var before = errors.Count;
        if (end - start > ExpressionLimits.MaxExpressionLength)
        {
            errors.Add(new(start, end - start, $"The expression is longer than {ExpressionLimits.MaxExpressionLength} characters."));
            return null;
        }

        var tokens = ExpressionLexer.Tokenize(source, start, end, errors);
        var lexedCleanly = errors.Count == before;
        var parser = new ExpressionParser(source, tokens, syntax, errors, references, lexedCleanly);
        if (tokens.Count == 1)
        {
            if (lexedCleanly)
            {
                errors.Add(new(start, end - start, "The expression is empty."));
            }

            return null;
        }

        ExpressionNode? node = null;
        try
        {
            node = parser.ParseExpression();
            if (parser.Current.Kind != TokenKind.End)
            {
                parser.Syntax(parser.Current, $"Unexpected {parser.Describe(parser.Current)} after the end of the expression; "
                    + "an expression is one expression (join conditions with && or ||).");
            }
        }
        catch (ExpressionException)
        {
            // A syntax error, already recorded: the parse stops there.
            node = null;
        }

        return errors.Count == before ? node : null;
    }

    private Token Current => tokens[position];

    private Token Peek(int ahead = 1) => tokens[Math.Min(position + ahead, tokens.Count - 1)];

    private Token Advance() => tokens[position < tokens.Count - 1 ? position++ : position];

    private ExpressionNode ParseExpression() => ParseOr();

    private ExpressionNode ParseOr()
    {
        var left = ParseAnd();
        while (Current.Kind == TokenKind.Or)
        {
            Advance();
            var right = ParseAnd();
            left = Bounded(new LogicalNode(left.Offset, End(right) - left.Offset, isAnd: false, left, right));
        }

        return left;
    }

    private ExpressionNode ParseAnd()
    {
        var left = ParseNot();
        while (Current.Kind == TokenKind.And)
        {
            Advance();
            var right = ParseNot();
            left = Bounded(new LogicalNode(left.Offset, End(right) - left.Offset, isAnd: true, left, right));
        }

        return left;
    }

    private ExpressionNode ParseNot()
    {
        if (Current.Kind != TokenKind.Not)
        {
            return ParseComparison();
        }

        var not = Advance();
        Enter(not);
        var operand = ParseNot();
        nesting--;
        return Bounded(new NotNode(not.Offset, End(operand) - not.Offset, operand));
    }

    private ExpressionNode ParseComparison()
    {
        var left = ParsePostfix();
        var node = ParseComparisonTail(left);
        if (!ReferenceEquals(node, left) && (ComparisonOf(Current.Kind) is not null || Current.Kind == TokenKind.In
            || (Current.Kind == TokenKind.Not && Peek().Kind == TokenKind.In)))
        {
            Syntax(Current, $"Comparisons cannot be chained ({Describe(Current)}); join them with && or ||, or use parentheses.");
        }

        return node;
    }

    private ExpressionNode ParseComparisonTail(ExpressionNode left)
    {
        if (ComparisonOf(Current.Kind) is { } op)
        {
            Advance();
            var right = ParsePostfix();
            return Bounded(new ComparisonNode(left.Offset, End(right) - left.Offset, op, left, right));
        }

        if (Current.Kind == TokenKind.In || (Current.Kind == TokenKind.Not && Peek().Kind == TokenKind.In))
        {
            var negated = Current.Kind == TokenKind.Not;
            Advance();
            if (negated)
            {
                Advance();
            }

            var right = ParsePostfix();
            return Bounded(new InNode(left.Offset, End(right) - left.Offset, negated, left, right));
        }

        return left;
    }

    private static ComparisonOperator? ComparisonOf(TokenKind kind) => kind switch
    {
        TokenKind.Equal => ComparisonOperator.Equal,
        TokenKind.NotEqual => ComparisonOperator.NotEqual,
        TokenKind.Less => ComparisonOperator.Less,
        TokenKind.LessOrEqual => ComparisonOperator.LessOrEqual,
        TokenKind.Greater => ComparisonOperator.Greater,
        TokenKind.GreaterOrEqual => ComparisonOperator.GreaterOrEqual,
        _ => null,
    };

    private ExpressionNode ParsePostfix()
    {
        var node = ParsePrimary();
        var root = node as RootNode;
        var accesses = 0;
        while (true)
        {
            if (Current.Kind == TokenKind.Dot)
            {
                Advance();
                var name = Current;
                if (name.Text is null || name.Kind is TokenKind.Number or TokenKind.String)
                {
                    Syntax(name, $"Expected a member name after '.', found {Describe(name)}.");
                }

                Advance();
                Access(root, accesses++, name.Text!, name.Offset, name.Length);
                node = Bounded(new MemberNode(node.Offset, name.Offset + name.Length - node.Offset, node, name.Text!));
            }
            else if (Current.Kind == TokenKind.OpenBracket)
            {
                var open = Advance();
                Enter(open);
                var index = ParseExpression();
                nesting--;
                var close = Expect(TokenKind.CloseBracket, "']'", open);
                var length = close.Offset + close.Length - node.Offset;
                if (index is LiteralNode { Value.Kind: ExpressionValueKind.String } literal)
                {
                    Access(root, accesses++, literal.Value.Text, index.Offset, index.Length);
                    node = Bounded(new MemberNode(node.Offset, length, node, literal.Value.Text));
                }
                else
                {
                    if (root is not null && accesses < syntax.LiteralAccesses(root.Name))
                    {
                        Error(index, $"'{root.Name}' is read by literal names (e.g. {syntax.Example(root.Name)}), so a definition can be checked.");
                    }

                    accesses++;
                    node = Bounded(new IndexNode(node.Offset, length, node, index));
                }
            }
            else if (Current.Kind == TokenKind.OpenParen)
            {
                Syntax(Current, "Values have no methods; call one of the functions instead, e.g. lower(x) rather than x.lower().");
            }
            else
            {
                break;
            }
        }

        if (root is not null && accesses < syntax.RequiredAccesses(root.Name))
        {
            Error(root, $"'{root.Name}' is read by name, e.g. {syntax.Example(root.Name)}.");
        }

        return node;
    }

    /// <summary>Records a read of a literal member name, checking names the syntax fixes (a step has output and status).</summary>
    private void Access(RootNode? root, int index, string name, int offset, int length)
    {
        if (name.StartsWith("__", StringComparison.Ordinal))
        {
            errors.Add(new(offset, length, "Names starting with '__' are reserved."));
        }

        if (root is null)
        {
            return;
        }

        if (index == 0)
        {
            references.Add(new(root.Offset, root.Name, name));
        }
        else if (syntax.AllowedMembers(root.Name, index) is { } allowed && !allowed.Contains(name))
        {
            errors.Add(new(offset, length, $"'{name}' is not one of {string.Join(", ", allowed)} here (e.g. {syntax.Example(root.Name)})."));
        }
    }

    private ExpressionNode ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Number:
                Advance();
                return new LiteralNode(token.Offset, token.Length, ExpressionValue.Of(token.Number));
            case TokenKind.String:
                Advance();
                return new LiteralNode(token.Offset, token.Length, ExpressionValue.Of(token.Text));
            case TokenKind.True or TokenKind.False:
                Advance();
                return new LiteralNode(token.Offset, token.Length, ExpressionValue.Of(token.Kind == TokenKind.True));
            case TokenKind.NullLiteral:
                Advance();
                return new LiteralNode(token.Offset, token.Length, ExpressionValue.Null);
            case TokenKind.OpenParen:
            {
                Advance();
                Enter(token);
                var inner = ParseExpression();
                nesting--;
                Expect(TokenKind.CloseParen, "')'", token);
                return inner;
            }

            case TokenKind.OpenBracket:
            {
                Advance();
                Enter(token);
                var items = ParseList(TokenKind.CloseBracket, "']'", token);
                nesting--;
                var close = Advance();
                return Bounded(new ListNode(token.Offset, close.Offset + close.Length - token.Offset, [.. items]));
            }

            case TokenKind.Identifier when Peek().Kind == TokenKind.OpenParen:
                return ParseCall();
            case TokenKind.Identifier:
                Advance();
                if (!syntax.IsRoot(token.Text!))
                {
                    errors.Add(new(token.Offset, token.Length, ExpressionFunctions.All.ContainsKey(token.Text!)
                        ? $"'{token.Text}' is a function; call it as {token.Text}(…)."
                        : $"Unknown name '{token.Text}'; an expression reads {string.Join(", ", syntax.Roots.Order(StringComparer.Ordinal))}, literals and functions."));
                }

                return new RootNode(token.Offset, token.Length, token.Text!);
            case TokenKind.Not:
                throw Syntax(token, "A negation applies to a whole comparison; to negate one operand, put it in parentheses: (!x).");
            default:
                throw Syntax(token, token.Kind == TokenKind.End
                    ? "The expression ends where a value was expected."
                    : $"Expected a value, found {Describe(token)}.");
        }
    }

    private ExpressionNode ParseCall()
    {
        var name = Advance();
        var open = Advance();
        Enter(open);
        var arguments = ParseList(TokenKind.CloseParen, "')'", open);
        nesting--;
        var close = Advance();
        var length = close.Offset + close.Length - name.Offset;
        if (!ExpressionFunctions.All.TryGetValue(name.Text!, out var function))
        {
            errors.Add(new(name.Offset, name.Length, $"Unknown function '{name.Text}'. The functions are "
                + string.Join(", ", ExpressionFunctions.All.Keys.Order(StringComparer.Ordinal)) + "."));
            return new LiteralNode(name.Offset, length, ExpressionValue.Null);
        }

        if (arguments.Count < function.MinArguments || arguments.Count > function.MaxArguments)
        {
            var expected = function.MinArguments == function.MaxArguments
                ? function.MinArguments.ToString(CultureInfo.InvariantCulture)
                : function.MaxArguments >= ExpressionLimits.MaxArguments
                    ? $"at least {function.MinArguments}"
                    : $"{function.MinArguments} to {function.MaxArguments}";
            errors.Add(new(name.Offset, length, $"{function.Name}() takes {expected} argument{(function.MinArguments == 1 && expected is "1" or "at least 1" ? "" : "s")}, "
                + $"not {arguments.Count}: {function.Usage}."));
        }

        return Bounded(new CallNode(name.Offset, length, function, [.. arguments]));
    }

    /// <summary>Parses comma-separated expressions up to (not past) the closing token; a trailing comma is allowed.</summary>
    private List<ExpressionNode> ParseList(TokenKind close, string closeText, Token open)
    {
        var items = new List<ExpressionNode>();
        while (Current.Kind != close)
        {
            if (items.Count >= ExpressionLimits.MaxArguments && close == TokenKind.CloseParen)
            {
                Syntax(Current, $"A call takes at most {ExpressionLimits.MaxArguments} arguments.");
            }

            items.Add(ParseExpression());
            if (Current.Kind == TokenKind.Comma)
            {
                Advance();
            }
            else if (Current.Kind != close)
            {
                Expect(close, closeText, open);
            }
        }

        return items;
    }

    private Token Expect(TokenKind kind, string text, Token open)
    {
        if (Current.Kind != kind)
        {
            Syntax(Current, $"Expected {text} to close the {Describe(open)} at offset {open.Offset}, found {Describe(Current)}.");
        }

        return Advance();
    }

    private void Enter(Token at)
    {
        if (++nesting > ExpressionLimits.MaxDepth)
        {
            Syntax(at, $"The expression nests deeper than {ExpressionLimits.MaxDepth} levels.", always: true);
        }
    }

    private ExpressionNode Bounded(ExpressionNode node)
    {
        if (node.Depth > ExpressionLimits.MaxDepth)
        {
            Syntax(new Token(TokenKind.End, node.Offset, node.Length),
                $"The expression nests deeper than {ExpressionLimits.MaxDepth} levels.", always: true);
        }

        return node;
    }

    private static int End(ExpressionNode node) => node.Offset + node.Length;

    private void Error(ExpressionNode node, string message) => errors.Add(new(node.Offset, node.Length, message));

    /// <summary>Reports a syntax error (unless the lexer already failed, which would make it noise) and stops the parse.</summary>
    private ExpressionException Syntax(Token at, string message, bool always = false)
    {
        if (reportSyntaxErrors || always)
        {
            errors.Add(new(at.Offset, at.Length, message));
        }

        throw new ExpressionException(at.Offset, at.Length, message);
    }

    private string Describe(Token token) => token.Kind == TokenKind.End
        ? "the end of the expression"
        : $"'{source.Substring(token.Offset, Math.Min(token.Length, 40))}'";
}
