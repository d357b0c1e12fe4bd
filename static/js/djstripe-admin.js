// dj-stripe's admin spinner ("Loading..." while a sync or a delete talks to
// Stripe), from a file instead of dj-stripe's inline handlers, which the
// Content-Security-Policy refuses: templates/djstripe/admin/.
(function () {
  'use strict'

  function showSpinner (hide) {
    document.querySelectorAll(hide).forEach(function (el) { el.hidden = true })
    const spinner = document.getElementById('div_spinner')
    if (spinner) spinner.hidden = false
  }

  document.addEventListener('DOMContentLoaded', function () {
    const action = document.getElementById('form_custom_action')
    if (action) {
      // The confirmation page of dj-stripe's admin actions (sync, cancel).
      const hide = '#main_content, .messagelist'
      action.addEventListener('submit', function () { showSpinner(hide) })
      action.querySelectorAll('.cancel-link').forEach(function (link) {
        link.addEventListener('click', function () { showSpinner('#main_content') })
      })
    } else if (document.getElementById('div_spinner')) {
      // Deleting a webhook endpoint, which deletes it in Stripe too.
      document.querySelectorAll('#content form').forEach(function (form) {
        form.addEventListener('submit', function () { showSpinner('') })
      })
    }
  })
})()
