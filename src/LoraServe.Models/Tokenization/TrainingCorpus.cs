namespace LoraServe.Models.Tokenization;

/// <summary>
/// The English text <see cref="TokenizerWriter"/> learns its merges from. Public domain only:
/// the Gettysburg Address (1863, Bliss copy), the Preamble of the U.S. Constitution (1787),
/// the opening of the Declaration of Independence (1776), fables of Aesop retold in plain
/// words, and a letter, a recipe and a short essay written for this project (all dedicated to
/// the public domain), with dialogue, numbers and lists so the learned merges see more than
/// one register of text.
/// </summary>
internal static class TrainingCorpus
{
    public const string Text = """
Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.

Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live. It is altogether fitting and proper that we should do this.

But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract. The world will little note, nor long remember what we say here, but it can never forget what they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining before us -- that from these honored dead we take increased devotion to that cause for which they gave the last full measure of devotion -- that we here highly resolve that these dead shall not have died in vain -- that this nation, under God, shall have a new birth of freedom -- and that government of the people, by the people, for the people, shall not perish from the earth.

We the People of the United States, in Order to form a more perfect Union, establish Justice, insure domestic Tranquility, provide for the common defence, promote the general Welfare, and secure the Blessings of Liberty to ourselves and our Posterity, do ordain and establish this Constitution for the United States of America.

When in the Course of human events, it becomes necessary for one people to dissolve the political bands which have connected them with another, and to assume among the powers of the earth, the separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind requires that they should declare the causes which impel them to the separation.

We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness. That to secure these rights, Governments are instituted among Men, deriving their just powers from the consent of the governed.

The Fox and the Grapes

One hot summer day a hungry fox was walking through an orchard when he saw a bunch of grapes hanging from a vine high above his head. "Just the thing to quench my thirst," he said. He stepped back a few paces, took a run and a jump, and just missed the bunch. Turning round again with a one, two, three, he jumped up, but with no greater success. Again and again he tried after the tempting morsel, but at last he had to give it up, and he walked away with his nose in the air, saying: "I am sure they are sour."

It is easy to despise what you cannot get.

The Tortoise and the Hare

A hare was making fun of the tortoise one day for being so slow. "Do you ever get anywhere?" he asked with a mocking laugh. "Yes," replied the tortoise, "and I get there sooner than you think. I will run you a race and prove it." The hare was much amused at the idea of running a race with the tortoise, but for the fun of the thing he agreed. So the fox, who had consented to act as judge, marked the distance and started the runners off.

The hare was soon far out of sight, and to make the tortoise feel very deeply how ridiculous it was for him to try a race with a hare, he lay down beside the course to take a nap until the tortoise should catch up. The tortoise meanwhile kept going slowly but steadily, and, after a time, passed the place where the hare was sleeping. But the hare slept on very peacefully; and when at last he did wake up, the tortoise was near the goal. The hare now ran his swiftest, but he could not overtake the tortoise in time.

The race is not always to the swift. Slow and steady wins the race.

The Ant and the Grasshopper

In a field one summer's day a grasshopper was hopping about, chirping and singing to its heart's content. An ant passed by, bearing along with great toil an ear of corn he was taking to the nest. "Why not come and chat with me," said the grasshopper, "instead of toiling and moiling in that way?" "I am helping to lay up food for the winter," said the ant, "and I recommend you to do the same." "Why bother about winter?" said the grasshopper; "we have got plenty of food at present." But the ant went on its way and continued its toil. When the winter came the grasshopper had no food and found itself dying of hunger, while it saw the ants distributing every day corn and grain from the stores they had collected in the summer. Then the grasshopper knew:

It is best to prepare for the days of necessity.

The Lion and the Mouse

Once when a lion was asleep a little mouse began running up and down upon him; this soon wakened the lion, who placed his huge paw upon him, and opened his big jaws to swallow him. "Pardon, O King," cried the little mouse, "forgive me this time, I shall never forget it: who knows but what I may be able to do you a turn some of these days?" The lion was so tickled at the idea of the mouse being able to help him, that he lifted up his paw and let him go. Some time after the lion was caught in a trap, and the hunters, who desired to carry him alive to the king, tied him to a tree while they went in search of a wagon to carry him on. Just then the little mouse happened to pass by, and seeing the sad plight in which the lion was, went up to him and soon gnawed away the ropes that bound the king of the beasts. "Was I not right?" said the little mouse.

Little friends may prove great friends.

The Boy Who Cried Wolf

There was once a young shepherd boy who tended his sheep at the foot of a mountain near a dark forest. It was rather lonely for him all day, so he thought upon a plan by which he could get a little company and some excitement. He rushed down towards the village calling out "Wolf, Wolf," and the villagers came out to meet him, and some of them stopped with him for a considerable time. This pleased the boy so much that a few days afterwards he tried the same trick, and again the villagers came to his help. But shortly after this a wolf actually did come out from the forest, and began to worry the sheep, and the boy of course cried out "Wolf, Wolf," still louder than before. But this time the villagers, who had been fooled twice before, thought the boy was again deceiving them, and nobody stirred to come to his help. So the wolf made a good meal off the boy's flock, and when the boy complained, the wise man of the village said:

A liar will not be believed, even when he speaks the truth.

The North Wind and the Sun

The wind and the sun were disputing which was the stronger. Suddenly they saw a traveller coming down the road, and the sun said: "I see a way to decide our dispute. Whichever of us can cause that traveller to take off his cloak shall be regarded as the stronger. You begin." So the sun retired behind a cloud, and the wind began to blow as hard as it could upon the traveller. But the harder he blew the more closely did the traveller wrap his cloak round him, till at last the wind had to give up in despair. Then the sun came out and shone in all his glory upon the traveller, who soon found it too hot to walk with his cloak on.

Kindness effects more than severity.

The Crow and the Pitcher

A crow, half-dead with thirst, came upon a pitcher which had once been full of water; but when the crow put its beak into the mouth of the pitcher he found that only very little water was left in it, and that he could not reach far enough down to get at it. He tried, and he tried, but at last had to give up in despair. Then a thought came to him, and he took a pebble and dropped it into the pitcher. Then he took another pebble and dropped it into the pitcher. Then he took another pebble and dropped that into the pitcher. At last, at last, he saw the water mount up near him, and after casting in a few more pebbles he was able to quench his thirst and save his life.

Little by little does the trick.

A conversation at the market

"Good morning! How much are the apples today?"
"Three for a dollar, or twelve for 3.50."
"I'll take twelve, please. Do you have any pears?"
"We sold the last ones at 10:30 this morning. Come back on Friday; we open at 8 and close at 5."
"Thank you. I'm sure I'll be back. It's been a long week, hasn't it?"
"It has. They're saying it'll rain tomorrow, so we've moved the stalls inside."

A short list of things to remember:
1. Water the garden before noon.
2. Buy 2 loaves of bread and 6 eggs.
3. Write to grandmother on the 14th.
4. Return the 3 library books by May 21, 1999.

In the year 1492 the voyage began; in 1776 a declaration was signed; in 1863 a short speech was given. Numbers such as 7, 42, 100, 2048 and 65536 appear in many stories about counting and measuring. The total was 1,234 miles, or about 1986 kilometers.

The Dog and His Reflection

A dog, to whom the butcher had thrown a bone, was hurrying home with his prize as fast as he could go. As he crossed a narrow footbridge, he happened to look down and saw himself reflected in the quiet water as if in a mirror. But the greedy dog thought he saw a real dog carrying a bone much bigger than his own. If he had stopped to think he would have known better. But instead of thinking, he dropped his bone and sprang at the dog in the river, only to find himself swimming for dear life to reach the shore. At last he managed to scramble out, and as he stood sadly thinking about the good bone he had lost, he realized what a stupid dog he had been.

It is very foolish to be greedy.

The Town Mouse and the Country Mouse

A town mouse once visited a relative who lived in the country. For lunch the country mouse served wheat stalks, roots, and acorns, with a dash of cold water for drink. The town mouse ate very sparingly, nibbling a little of this and a little of that, and by her manner making it very plain that she ate the simple food only to be polite. After the meal the friends had a long talk, or rather the town mouse talked about her life in the city while the country mouse listened. They then went to bed in a cozy nest in the hedgerow and slept in quiet and comfort until morning.

In her sleep the country mouse dreamed she was a town mouse with all the luxuries and delights of city life. So the next day when the town mouse asked her to go home with her to the city, she gladly said yes. When they reached the mansion, they found on the table in the dining room the leavings of a very fine banquet. There were sweetmeats and jellies, pastries, delicious cheeses, indeed, the most tempting foods that a mouse can imagine. But just as the country mouse was about to nibble a dainty bit of pastry, she heard a cat mew loudly and scratch at the door. In great fear the mice scurried to a hiding place, where they lay quite still for a long time, hardly daring to breathe. When at last they ventured back to the feast, the door opened suddenly and in came the servants to clear the table, followed by the house dog.

The country mouse stopped in the town mouse's den only long enough to pick up her carpet bag and umbrella. "You may have luxuries and dainties that I have not," she said as she hurried away, "but I prefer my plain food and simple life in the country with the peace and security that go with it."

Poverty with security is better than plenty in the midst of fear and uncertainty.

The Goose and the Golden Egg

There was once a countryman who possessed the most wonderful goose you can imagine, for every day when he visited the nest, the goose had laid a beautiful, glittering, golden egg. The countryman took the eggs to market and soon began to get rich. But it was not long before he grew impatient with the goose because she gave him only a single golden egg a day. He was not getting rich fast enough. Then one day, after he had finished counting his money, the idea came to him that he could get all the golden eggs at once by killing the goose and cutting it open. But when the deed was done, not a single golden egg did he find, and his precious goose was dead.

Those who have plenty want more and so lose all they have.

The Fox and the Crow

One bright morning as the fox was following his sharp nose through the wood in search of a bite to eat, he saw a crow on the limb of a tree overhead. This was by no means the first crow the fox had ever seen. What caught his attention this time and made him stop for a second look, was that the lucky crow held a bit of cheese in her beak. "No need to search any farther," thought sly Master Fox. "Here is a dainty bite for my breakfast." Up he trotted to the foot of the tree in which the crow was sitting, and looking up admiringly, he cried, "Good morning, beautiful creature!" The crow, her head cocked on one side, watched the fox suspiciously. But she kept her beak tightly closed on the cheese and did not return his greeting. "What a charming creature she is!" said the fox. "How her feathers shine! What a beautiful form and what splendid wings! Such a wonderful bird should have a very lovely voice, since everything else about her is so perfect. Could she sing just one song, I know I should hail her queen of birds." Listening to these flattering words, the crow forgot all her suspicion, and also her breakfast. She wanted very much to be called queen of birds. So she opened her beak wide to utter her loudest caw, and down fell the cheese straight into the fox's open mouth. "Thank you," said the fox sweetly, as he walked off. "Though it is cracked, you have a voice sure enough. But where are your wits?"

The flatterer lives at the expense of those who will listen to him.

Belling the Cat

The mice once called a meeting to decide on a plan to free themselves of their enemy, the cat. At least they wished to find some way of knowing when she was coming, so they might have time to run away. Indeed, something had to be done, for they lived in such constant fear of her claws that they hardly dared stir from their dens by night or day. Many plans were discussed, but none of them was thought good enough. At last a very young mouse got up and said: "I have a plan that seems very simple, but I know it will be successful. All we have to do is to hang a bell about the cat's neck. When we hear the bell ringing we will know immediately that our enemy is coming." All the mice were much surprised that they had not thought of such a plan before. But in the midst of the rejoicing over their good fortune, an old mouse arose and said: "I will say that the plan of the young mouse is very good. But let me ask one question: Who will bell the cat?"

It is one thing to say that something should be done, but quite a different matter to do it.

A letter from the coast

Dear Margaret,

We arrived at the harbour on Tuesday evening, tired but cheerful. The weather has been kind: mornings of thin fog that lift by nine o'clock, bright afternoons, and cool, windy evenings. Yesterday we walked along the cliffs to the lighthouse, which is painted white with a broad red band, and climbed the ninety-two steps to the lamp room. From the top you can see the whole bay, the fishing boats coming in with the tide, and on a clear day the blue line of the islands far to the west.

The village is small: a bakery, a post office, two churches, a school with a bell, and a market every Saturday where farmers sell potatoes, onions, carrots, honey, butter and fresh bread. The baker's wife recommended her apple pie, and she was right to do so. In the evenings we read by the fire, write letters, and listen to the rain on the windows. Father has taken up painting again; his pictures of the boats are getting better every day, though he insists the sea refuses to sit still for him.

We will be home on the 3rd of next month. Please water the plants, feed the cat, and tell the neighbours we send our best wishes.

With love, and with sand in every pocket,
Elizabeth

How to bake a simple loaf of bread

Mix four cups of flour with a teaspoon of salt in a large bowl. Dissolve a spoonful of yeast and a little sugar in warm water, wait ten minutes until it foams, then pour it into the flour and stir until a rough dough forms. Knead the dough on a floured table for eight to ten minutes, until it is smooth and springs back when pressed. Cover it with a cloth and leave it somewhere warm for an hour, or until it has doubled in size. Shape it into a loaf, place it in a greased tin, and let it rise again for thirty minutes. Bake in a hot oven for about forty minutes, until the crust is golden brown and the loaf sounds hollow when tapped underneath. Let it cool before slicing, however difficult that may be.

On the seasons

Spring arrives quietly, with longer days and the first green shoots along the roadside. Summer brings heat, thunderstorms, ripe strawberries and evenings that never seem to end. In autumn the leaves turn yellow, orange and crimson, the apples are gathered, and the first frost silvers the grass. Winter is the season of snow, short grey days, warm kitchens and long stories told by the stove. Each season has its own work and its own rest, and the old farmers say that a wise person learns to love all four.

The teacher asked the class, "What have you learned today?" One student said, "That slow and steady wins the race." Another said, "That little friends may prove great friends." A third said, "That you should not cry wolf." The teacher smiled and said, "Then the day was not wasted."
""";
}
