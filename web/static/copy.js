// Copy buttons: a button with data-copy="ID" copies the text of element ID. Without
// JavaScript the button stays hidden and the text is there to select.
'use strict';
(function () {
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = document.getElementById(button.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = 'Copied';
      }, function () {
        button.textContent = 'Select the text and copy it';
      });
    });
  });
})();
