using Clarity.Hosting;
using Clarity.Hosting.Authorization;
using Xunit;

namespace Clarity.Tests.Hosting.Authorization;

/// <summary>The pure rules of roles as data: effective permissions through inheritance, and comparisons by permission set.</summary>
public sealed class RoleSetTests
{
    private static readonly Guid s_org = Guid.NewGuid();
    private static readonly Guid s_viewerId = Guid.NewGuid();
    private static readonly Guid s_memberId = Guid.NewGuid();

    private static readonly RoleRecord s_viewer = new(s_viewerId, null, "viewer", null, [Permissions.OrgRead, Permissions.TasksRead]);
    private static readonly RoleRecord s_member = new(s_memberId, null, "member", null, [Permissions.OrgRead, Permissions.TasksRead, Permissions.TasksWrite]);

    [Fact]
    public void ARole_HoldsItsOwnPermissions_AndThoseOfEveryRoleItInherits()
    {
        var triager = new RoleRecord(Guid.NewGuid(), s_org, "triager", s_viewerId, [Permissions.TasksRespond]);
        var lead = new RoleRecord(Guid.NewGuid(), s_org, "lead", triager.Id, [Permissions.MembersRead]);

        var roles = RoleSet.Build(s_org, [s_viewer, triager, lead]);

        Assert.Equal([Permissions.OrgRead, Permissions.TasksRead, Permissions.TasksRespond], roles.Resolve("triager").Permissions.Order());
        Assert.Equal([Permissions.MembersRead, Permissions.OrgRead, Permissions.TasksRead, Permissions.TasksRespond], roles.Resolve("lead").Permissions.Order());
    }

    [Fact]
    public void AnInheritanceCycle_StopsTheWalk_InsteadOfLooping()
    {
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();
        var roles = RoleSet.Build(s_org, [new RoleRecord(a, s_org, "a", b, [Permissions.TasksRead]), new RoleRecord(b, s_org, "b", a, [Permissions.AgentsRead])]);

        Assert.Equal([Permissions.AgentsRead, Permissions.TasksRead], roles.Resolve("a").Permissions.Order());
        Assert.Equal([Permissions.AgentsRead, Permissions.TasksRead], roles.Resolve("b").Permissions.Order());
    }

    [Fact]
    public void AnotherOrgsRoles_AreNotVisible_NorInherited()
    {
        var other = Guid.NewGuid();
        var foreign = new RoleRecord(Guid.NewGuid(), other, "foreign", null, [Permissions.OrgAdmin]);
        var borrower = new RoleRecord(Guid.NewGuid(), s_org, "borrower", foreign.Id, [Permissions.OrgRead]);

        var roles = RoleSet.Build(s_org, [s_viewer, foreign, borrower]);

        Assert.Null(roles.Find("foreign"));
        Assert.Equal([Permissions.OrgRead], roles.Resolve("borrower").Permissions);
    }

    [Fact]
    public void ABuiltInRole_WinsOverAnOrgsRoleOfTheSameName()
    {
        var shadow = new RoleRecord(Guid.NewGuid(), s_org, "viewer", null, [Permissions.OrgAdmin]);

        var roles = RoleSet.Build(s_org, [shadow, s_viewer]);

        Assert.False(roles.Resolve("viewer").Grants(Permissions.OrgAdmin));
        Assert.Single(roles.All, r => r.Name == "viewer");
    }

    [Fact]
    public void ANameNoRoleHas_GrantsNothing()
    {
        var roles = RoleSet.Build(s_org, [s_viewer]);

        Assert.Null(roles.Find("ghost"));
        Assert.Empty(roles.Resolve("ghost").Permissions);
        Assert.Equal("ghost", roles.Resolve("ghost").ToString());
    }

    [Fact]
    public void Comparisons_AreBetweenPermissionSets_NotNames()
    {
        var sideways = new RoleRecord(Guid.NewGuid(), s_org, "agent-admin", null, [Permissions.OrgRead, Permissions.AgentsWrite]);
        var roles = RoleSet.Build(s_org, [s_viewer, s_member, sideways]);
        var (viewer, member, agentAdmin) = (roles.Resolve("viewer"), roles.Resolve("member"), roles.Resolve("agent-admin"));

        Assert.True(member.Includes(viewer));
        Assert.True(member.Includes(member));
        Assert.False(viewer.Includes(member));
        Assert.False(member.Includes(agentAdmin));
        Assert.False(agentAdmin.Includes(member));

        Assert.Equal(["viewer", "member"], roles.GrantableBy(member).Select(r => r.Name));
        Assert.Equal(["agent-admin"], roles.NamesNotIncludedIn(member));
        Assert.Equal(["agent-admin", "member"], roles.NamesNotIncludedIn(viewer));
        Assert.Equal(["member"], roles.NamesGranting(Permissions.TasksWrite));
    }

    [Fact]
    public void All_ListsRoles_FromTheFewestPermissionsToTheMost()
    {
        var roles = RoleSet.Build(s_org, [s_member, s_viewer, new RoleRecord(Guid.NewGuid(), s_org, "alone", null, [Permissions.OrgRead])]);

        Assert.Equal(["alone", "viewer", "member"], roles.All.Select(r => r.Name));
    }
}
