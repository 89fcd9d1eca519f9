@issuer @issuance
Feature: ID-JAGs the issuer mints
  The resource server's signing algorithm decides how the ID-JAG is signed; the token
  exchange response and the ID-JAG carry what the draft requires; the audit event records
  the token ID, signing key ID, algorithm and lifetime of what was issued.

  Background:
    Given the user "alice" has signed in with the client

  @IDP-01 @IDP-03 @IDP-11 @IDP-16 @IDP-19 @IDP-20 @IDP-21 @IDP-23 @IDP-29 @D11 @must
  Scenario Outline: An ID-JAG for the <alg> server is signed with <alg> and carries every required claim
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    Then the request is granted
    And the response's "issued_token_type" is "urn:ietf:params:oauth:token-type:id-jag"
    And the response's "token_type" is "N_A"
    And the response has no "refresh_token"
    And the ID-JAG is signed with <alg>
    And the ID-JAG has the header "typ" equal to "oauth-id-jag+jwt"
    And the ID-JAG carries the claims iss, sub, aud, client_id, jti, exp, iat
    And the ID-JAG's "aud" claim is the role's audience
    And the ID-JAG's "resource" claim is the role's resource
    And the ID-JAG's "sub" claim is the subject token's
    And the response's "Cache-Control" header is "no-store"
    And the audit event of the request records the outcome "granted"
    And the audit event records the ID-JAG's token id, key id, algorithm and lifetime
    And the audit event of the request names the user, the client and the system

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @SEED-algorithm-mismatch @must
  Scenario: A server that inherits the tenant default is signed with ES256
    Given the target offers a server that inherits the tenant default algorithm
    When the client requests an ID-JAG for it
    Then the request is granted
    And the ID-JAG is signed with ES256
    And the audit event records the ID-JAG's token id, key id, algorithm and lifetime

  @IDP-13 @IDP-15 @IDP-17 @must
  Scenario Outline: Granted and ungranted scopes together give a token for the granted subset (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it with its scope and the scope granted to nobody
    Then the request is granted
    And the response's "scope" is the role's scope
    And the ID-JAG's "scope" claim is the role's scope
    And the audit event records the role's scope as granted
    And the audit event records the scope granted to nobody as denied

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @D2 @should
  Scenario: Without a resource, the server's only resource URI is used
    Given the target offers a server with a single resource URI
    When the client requests an ID-JAG for it without a resource
    Then the request is granted
    And the ID-JAG's "resource" claim is the role's resource

  @IDP-26 @D7 @should
  Scenario Outline: An ID-JAG for a server that asked for no extra identifiers carries none (<alg>)
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    Then the request is granted
    And the ID-JAG carries none of the claims sub_id, email, aud_sub

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @IDP-32 @must
  Scenario: The issuer does not redeem its own ID-JAG for an access token
    Given the target offers the ES256 server
    When the client requests an ID-JAG for it
    Then the request is granted
    When the ID-JAG is presented to the issuer as a JWT bearer grant
    Then the request is denied with HTTP 400 and OAuth error "unsupported_grant_type" or "invalid_grant"
    And the audit event of the request records the outcome "denied"
