"""The simulated phone's page (served by the simulator): pick an identity, paste the QR, decide."""

PHONE_PAGE = """<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulerad Mobilt SITHS / Simulated Mobilt SITHS</title>
<style>
 body { font-family: sans-serif; max-width: 32rem; margin: 1rem auto; padding: 0 1rem; }
 h1 { font-size: 1.3rem; } label { display: block; margin-top: 1rem; font-weight: bold; }
 select, textarea, button { width: 100%; font-size: 1.1rem; margin-top: .3rem; }
 button { padding: .8rem; margin-top: 1rem; } #status { margin-top: 1rem; font-size: 1.1rem; }
 .row { display: flex; gap: .5rem; } .row button { flex: 1; }
</style>
</head>
<body>
<h1>Simulerad Mobilt SITHS-app<br>
<small>Simulated Mobilt SITHS app (demo and tests only)</small></h1>
<label for="identity">Vem är du? / Who are you?</label>
<select id="identity"></select>
<label for="qr">QR-kodens innehåll / QR code content</label>
<textarea id="qr" rows="3" placeholder="mobiltsiths.…"></textarea>
<button id="scan">Skanna / Scan</button>
<div class="row">
 <button id="approve" disabled>Godkänn / Approve</button>
 <button id="decline" disabled>Avböj / Decline</button>
</div>
<div id="status" role="status"></div>
<script>
let orderRef = null;
const $ = (id) => document.getElementById(id);
const say = (text) => { $("status").textContent = text; };
async function call(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) { throw new Error(data.title || response.statusText); }
  return data;
}
fetch("/v1/phone/identities").then((r) => r.json()).then((data) => {
  for (const who of data.identities) {
    const option = document.createElement("option");
    option.value = who.personalIdentityNumber;
    option.textContent = who.name + " (" + who.personalIdentityNumber + ")";
    $("identity").appendChild(option);
  }
});
$("scan").onclick = async () => {
  try {
    const data = await call("/v1/phone/scan", {qrContent: $("qr").value.trim(),
                                               personalIdentityNumber: $("identity").value});
    orderRef = data.orderRef;
    $("approve").disabled = $("decline").disabled = false;
    say("Skannad. Godkänn med din legitimeringskod. / Scanned. Approve with your app code.");
  } catch (error) { say("Fel / Error: " + error.message); }
};
async function decide(verb) {
  try {
    await call("/v1/phone/" + orderRef + "/" + verb, {personalIdentityNumber: $("identity").value});
    say(verb === "approve" ? "Klart! / Done!" : "Avböjt. / Declined.");
  } catch (error) { say("Fel / Error: " + error.message); }
  $("approve").disabled = $("decline").disabled = true;
}
$("approve").onclick = () => decide("approve");
$("decline").onclick = () => decide("decline");
</script>
</body>
</html>
"""
