dnl contactgate.m4 - wire contactgate into Sendmail. Include it from your
dnl sendmail.mc before the MAILER() lines, e.g. on Debian:
dnl     include(`/etc/mail/m4/contactgate.m4')dnl
dnl then rebuild sendmail.cf (Debian: `sendmailconfig`, or
dnl `m4 sendmail.mc > sendmail.cf`) and restart sendmail.
dnl
dnl The socket must match "socket" in /etc/contactgate/contactgate.json
dnl ("unix:/run/contactgate/contactgate.sock" on a Sendmail host: the
dnl directory is contactgate:smmsp 2750, made by the unit's ExecStartPre;
dnl the MTA connects to milters as root). Define CONTACTGATE_SOCKET before
dnl the include to change it. Under /run no DontBlameSendmail option is
dnl needed: no directory on the path is group- or world-writable.
ifdef(`CONTACTGATE_SOCKET', `', `define(`CONTACTGATE_SOCKET', `local:/run/contactgate/contactgate.sock')')dnl
dnl
dnl F=T: if contactgate cannot be reached, tempfail (4xx). Nothing skips the
dnl contact strategy and nothing is lost: the sender retries. (F=R would
dnl reject, which is wrong for an internal error; no F= would accept mail
dnl unchecked.)
dnl T=: connect 10 s; sending to / reading from the filter 30 s; the whole
dnl end-of-message exchange 5 min. contactgate answers in milliseconds.
INPUT_MAIL_FILTER(`contactgate', `S='CONTACTGATE_SOCKET`, F=T, T=C:10s;S:30s;R:30s;E:5m')dnl
dnl
dnl The macros contactgate reads: {daemon_name} and {client_addr} identify a
dnl department's relay, {auth_authen} a SASL login, i is the queue ID that
dnl ties contactgate's log line to Sendmail's.
define(`confMILTER_MACROS_CONNECT', `j, _, {daemon_name}, {if_name}, {if_addr}, {client_addr}, {client_name}')dnl
define(`confMILTER_MACROS_HELO', `{tls_version}, {cipher}, {cipher_bits}, {cert_subject}, {cert_issuer}')dnl
define(`confMILTER_MACROS_ENVFROM', `i, {auth_type}, {auth_authen}, {auth_ssf}, {auth_author}, {mail_mailer}, {mail_host}, {mail_addr}')dnl
define(`confMILTER_MACROS_ENVRCPT', `i, {rcpt_mailer}, {rcpt_host}, {rcpt_addr}')dnl
define(`confMILTER_MACROS_EOM', `i, {msg_id}')dnl
