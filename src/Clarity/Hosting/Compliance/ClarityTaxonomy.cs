using Microsoft.Extensions.Compliance.Classification;
using Microsoft.Extensions.Compliance.Redaction;

namespace Clarity.Hosting.Compliance;

/// <summary>
/// Clarity's data classes (Microsoft.Extensions.Compliance): what a value is, so that every sink that writes it (the
/// audit log today, log masking later) redacts it by the same rule. <see cref="Secret"/> values (API key secrets and
/// hashes, lease tokens, passwords) are erased wherever they would be written; <see cref="Personal"/> values (emails,
/// names) are kept in the audit log, which must say who did what, and are marked so that a sink with a stricter rule
/// can mask them.
/// </summary>
public static class ClarityTaxonomy
{
    public const string Name = "Clarity";

    public static DataClassification Secret { get; } = new(Name, nameof(Secret));

    public static DataClassification Personal { get; } = new(Name, nameof(Personal));

    /// <summary>Registers the redactors of each class: secrets erased, personal data kept (see the class's remarks).</summary>
    public static IServiceCollection AddClarityRedaction(this IServiceCollection services) =>
        services.AddRedaction(r => r
            .SetRedactor<ErasingRedactor>(new DataClassificationSet(Secret))
            .SetRedactor<NullRedactor>(new DataClassificationSet(Personal))
            .SetFallbackRedactor<ErasingRedactor>());
}

/// <summary>Marks a member as <see cref="ClarityTaxonomy.Secret"/> (for attribute-driven redaction such as log properties).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
public sealed class SecretDataAttribute() : DataClassificationAttribute(ClarityTaxonomy.Secret);

/// <summary>Marks a member as <see cref="ClarityTaxonomy.Personal"/> data.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
public sealed class PersonalDataAttribute() : DataClassificationAttribute(ClarityTaxonomy.Personal);
