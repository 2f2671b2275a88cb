-- ASP.NET Core Data Protection's key ring, shared by every node (Hosting/KeyRing/DatabaseXmlRepository.cs). One row
-- per element Data Protection stores: a key (its secret part encrypted with the key-encryption certificate, which is
-- kept outside the database) or a revocation. Rows are only ever added; name is Data Protection's friendly name.
CREATE TABLE data_protection_keys (
    id uuid PRIMARY KEY,
    name TEXT NOT NULL,
    xml TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
