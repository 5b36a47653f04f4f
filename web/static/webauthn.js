// The one script of tpx's pages: it runs the WebAuthn ceremony of a form marked
// data-webauthn="create" (register a key) or "get" (log in with one). The options, with a
// single-use challenge from the server, are in data-options; the browser's answer goes
// back in the form's "response" field as JSON, and the form is posted as any other.
'use strict';
(function () {
  function toBytes(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); });
  }
  function toText(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBytes(c.id); });
  }
  async function ceremony(form) {
    var opts = JSON.parse(form.dataset.options);
    opts.challenge = toBytes(opts.challenge);
    var cred, response;
    if (form.dataset.webauthn === 'create') {
      opts.user.id = toBytes(opts.user.id);
      ids(opts.excludeCredentials);
      cred = await navigator.credentials.create({ publicKey: opts });
      response = {
        attestationObject: toText(cred.response.attestationObject),
        clientDataJSON: toText(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : []
      };
    } else {
      ids(opts.allowCredentials);
      cred = await navigator.credentials.get({ publicKey: opts });
      response = {
        authenticatorData: toText(cred.response.authenticatorData),
        clientDataJSON: toText(cred.response.clientDataJSON),
        signature: toText(cred.response.signature),
        userHandle: cred.response.userHandle ? toText(cred.response.userHandle) : null
      };
    }
    return JSON.stringify({
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults()
    });
  }
  document.querySelectorAll('form[data-webauthn]').forEach(function (form) {
    var problem = form.querySelector('[data-error]');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      problem.hidden = true;
      if (!window.PublicKeyCredential) {
        problem.textContent = 'This browser does not support security keys.';
        problem.hidden = false;
        return;
      }
      ceremony(form).then(function (json) {
        form.elements.response.value = json;
        form.submit();
      }, function (err) {
        problem.textContent = 'The security key did not answer (' + err.name + '). Try again, or use another factor.';
        problem.hidden = false;
      });
    });
  });
})();
